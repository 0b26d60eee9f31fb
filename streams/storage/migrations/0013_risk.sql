-- 0013 risk and collateral (issue 14): margin states gain the method and the predictive
-- margin call; portfolio risk reports (logic.risk) and operators' risk commands
-- (logic.risk.commands) get tables. Same conventions as 0010: exact ns integers, a stored
-- `time` checked against ns_to_timestamptz(ts_event), money numeric, statistics double
-- precision, named numbers jsonb. Risk commands are an audit trail: no retention drops them.

ALTER TABLE margin_states
    ADD COLUMN method           text             NOT NULL DEFAULT 'reg_t'
        CHECK (method IN ('reg_t', 'portfolio')),
    ADD COLUMN sigma_usd        double precision NOT NULL DEFAULT 0 CHECK (sigma_usd >= 0),
    ADD COLUMN call_probability double precision NOT NULL DEFAULT 0
        CHECK (call_probability BETWEEN 0 AND 1),
    ADD COLUMN time_to_call_s   double precision CHECK (time_to_call_s >= 0),
    ADD COLUMN horizon_bars     integer          NOT NULL DEFAULT 60 CHECK (horizon_bars > 0);

-- logic.risk: an account's VaR, CVaR, stress losses and drawdown.
CREATE TABLE risk_reports (
    time            timestamptz      NOT NULL,
    account         text             NOT NULL,
    ts_event        bigint           NOT NULL CHECK (ts_event >= 0),
    ts_init         bigint           NOT NULL CHECK (ts_init >= 0),
    currency        text             NOT NULL,
    gross_exposure  double precision NOT NULL,
    net_exposure    double precision NOT NULL,
    horizon_bars    integer          NOT NULL CHECK (horizon_bars > 0),
    bar_seconds     integer          NOT NULL CHECK (bar_seconds > 0),
    scaling         text             NOT NULL,
    window_bars     integer          NOT NULL CHECK (window_bars >= 0),
    var_hist_95     double precision,
    cvar_hist_95    double precision,
    var_hist_99     double precision,
    cvar_hist_99    double precision,
    var_param_95    double precision,
    var_param_99    double precision,
    var_mc_95       double precision,
    var_mc_99       double precision,
    stress          jsonb            NOT NULL,
    worst_stress    double precision,
    drawdown        double precision NOT NULL CHECK (drawdown >= 0),
    PRIMARY KEY (account, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

-- logic.risk.commands: halt, reduce and resume of an account's trading, as issued.
CREATE TABLE risk_commands (
    time        timestamptz NOT NULL,
    command_id  text        NOT NULL,
    ts_event    bigint      NOT NULL CHECK (ts_event >= 0),
    ts_init     bigint      NOT NULL CHECK (ts_init >= 0),
    account     text        NOT NULL,
    action      text        NOT NULL CHECK (action IN ('halt', 'reduce', 'resume')),
    reason      text        NOT NULL,
    issued_by   text        NOT NULL,
    PRIMARY KEY (command_id, time),
    CHECK (time = ns_to_timestamptz(ts_event))
);

DO $risk$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('bars_5m')) IS DISTINCT FROM 'v'
    THEN
        RETURN;
    END IF;
    PERFORM create_hypertable('risk_reports'::regclass, by_range('time', interval '7 days'));
    ALTER TABLE risk_reports SET (timescaledb.compress, timescaledb.compress_segmentby = 'account',
                                  timescaledb.compress_orderby = 'time DESC');
    PERFORM create_hypertable('risk_commands'::regclass, by_range('time', interval '7 days'));
    ALTER TABLE risk_commands SET (timescaledb.compress,
                                   timescaledb.compress_segmentby = 'account',
                                   timescaledb.compress_orderby = 'time DESC, command_id');
END
$risk$;

CREATE INDEX IF NOT EXISTS risk_reports_time_idx ON risk_reports (time DESC);
CREATE INDEX IF NOT EXISTS risk_commands_time_idx ON risk_commands (time DESC);
