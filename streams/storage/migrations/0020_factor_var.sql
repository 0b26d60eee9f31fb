-- 0020 Factor-model VaR in risk reports (processors/risk/factor.py): a loss over
-- `factor_horizon_days` days from a daily factor model's covariance and exposures. Rows stored
-- before this migration have none and a one-day horizon.
ALTER TABLE risk_reports ADD COLUMN factor_horizon_days integer NOT NULL DEFAULT 1
    CHECK (factor_horizon_days > 0);
ALTER TABLE risk_reports ADD COLUMN var_factor_95 double precision;
ALTER TABLE risk_reports ADD COLUMN var_factor_99 double precision;
