"""`nautilus-streams ml train|list|show|promote`: forecast models and their registry.

torch is imported by the subcommands that need it, not by `--help`.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streams.cli.arguments import positive
from streams.exceptions import ConfigError
from streams.settings import get_settings

POSITIVE_INT = positive(int)

TRAIN_DESCRIPTION = (
    "Train a torch model on the logic.features records of replay or backtest output\n"
    "directories (--input, repeatable: DIR/logic.features.parquet), joined with their\n"
    "logic.factors records where the directory has them (DIR/logic.factors.parquet: a\n"
    "replay with --engines ...,factors), to forecast --target ret_N, the forward return\n"
    "over the next N bars (bar t's close to bar t+N's, from the features' ret_1: no input\n"
    "of a later bar is an input), or sign_N, its sign (-1, 0, 1; the forecast is then a\n"
    "score between). A bar's inputs are its feature and factor values by name (same\n"
    "symbol and ts_event; a name in both topics is an error). Samples are per symbol and\n"
    "in time order; a bar missing a chosen input makes no sample.\n\n"
    "Walk-forward: the distinct bar times are cut into --folds + 1 blocks; fold k tests on\n"
    "block k with a model trained on the earlier times but the last --gap (default N) before\n"
    "it; inside those, the last --validation-share (after another gap) stops training\n"
    "early (--patience epochs without a better validation MSE; the best epoch is kept).\n"
    "The out-of-sample figures of all folds pooled, MSE, Spearman IC and hit rate, are\n"
    "printed against the naive forecasts zero and last value (the return over the N bars up\n"
    "to t). The registered model is then fitted the same way on every sample and saved as a\n"
    "new version of NAME under --out (weights, the inputs in order and the topic of each,\n"
    "normalisation, the data's sha256 and time range, the metrics and the code version);\n"
    "`ml promote`"
    " makes it the one the `ml` engine serves. Seeded (--seed) and deterministic on\n"
    "CPU: the same inputs and options give the same weights."
)
TRAIN_EXAMPLES = (
    "examples:\n"
    "  nautilus-streams ml train --input replay/ --target ret_5 --model mlp --out models/\n"
    "  nautilus-streams ml train -i day1/ -i day2/ --target ret_10 --model gru "
    "--sequence-length 8 --out models/\n"
    "  nautilus-streams ml train -i replay/ --target ret_5 --model linear "
    "--features ret_1,rsi_14,rv_20 --name lin5 --out models/\n"
    "  nautilus-streams ml train -i replay/ --target ret_5 --model linear "
    "--features ret_1,KMID,ROC5 --name linf5 --out models/"
)


def register(sub: argparse._SubParsersAction) -> None:
    ml = sub.add_parser(
        "ml", help="train forecast models on features and factors; list, show and promote "
        "them",
        description=(
            "Forecast models for the `ml` engine: `train` fits one on replay or backtest "
            "outputs and registers it as a new version; `list`, `show` and `promote` read "
            "and change the registry (a directory: --registry, default NAUTILUS_ML__REGISTRY, "
            "'models'). The `ml` engine serves the promoted version of the model named by "
            "ml.model and switches to a newly promoted one without a restart."),
    )
    cmds = ml.add_subparsers(dest="ml_command", metavar="SUBCOMMAND", required=True)
    train = cmds.add_parser(
        "train", help="train, test walk-forward and register a model",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=TRAIN_DESCRIPTION,
        epilog=TRAIN_EXAMPLES)
    train.add_argument("-i", "--input", action="append", type=Path, required=True,
                       metavar="DIR", help="replay or backtest output directory (repeatable)")
    train.add_argument("--target", required=True, metavar="ret_N|sign_N",
                       help="forward return over N bars, e.g. ret_5, or its sign, sign_5")
    train.add_argument("--model", required=True, choices=("linear", "mlp", "gru"),
                       help="linear, mlp (two hidden layers) or gru (one GRU layer)")
    train.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="the registry (default: NAUTILUS_ML__REGISTRY, 'models')")
    train.add_argument("--name", default=None,
                       help="model name in the registry (default: <model>_<target>)")
    train.add_argument("--features", type=_names, default=None, metavar="A,B,...",
                       help="inputs to use, in this order: features and factors (default: "
                       "every one that at least 90%% of the bars carry, sorted)")
    train.add_argument("--sequence-length", type=POSITIVE_INT, default=None, metavar="L",
                       help="bars per input window (default: 1; gru: 16)")
    train.add_argument("--hidden", type=POSITIVE_INT, default=32, help="hidden units (default 32)")
    train.add_argument("--folds", type=POSITIVE_INT, default=3, help="walk-forward folds "
                       "(default 3)")
    train.add_argument("--gap", type=int, default=None, metavar="BARS",
                       help="bar times left out before each test and validation block "
                       "(default: N of the target; less lets training targets overlap them)")
    train.add_argument("--epochs", type=POSITIVE_INT, default=200, help="at most (default 200)")
    train.add_argument("--patience", type=POSITIVE_INT, default=10,
                       help="epochs without a better validation MSE before stopping "
                       "(default 10)")
    train.add_argument("--batch-size", type=POSITIVE_INT, default=256, help="default 256")
    train.add_argument("--learning-rate", type=float, default=1e-3, help="Adam's (default "
                       "0.001)")
    train.add_argument("--validation-share", type=float, default=0.2,
                       help="share of the training times for early stopping (default 0.2)")
    train.add_argument("--seed", type=int, default=7, help="default 7")
    train.set_defaults(handler=_train)

    listing = cmds.add_parser("list", help="every model: versions, the promoted one, its "
                              "out-of-sample figures")
    listing.add_argument("--registry", type=Path, default=None, metavar="DIR")
    listing.set_defaults(handler=_list)

    show = cmds.add_parser("show", help="a version's model.json (default: the promoted one, "
                           "else the newest)")
    show.add_argument("name")
    show.add_argument("version", nargs="?", type=POSITIVE_INT, default=None)
    show.add_argument("--registry", type=Path, default=None, metavar="DIR")
    show.set_defaults(handler=_show)

    promote = cmds.add_parser("promote", help="make a version the one the ml engine serves "
                              "(running engines switch to it at their next batch)")
    promote.add_argument("name")
    promote.add_argument("version", type=POSITIVE_INT)
    promote.add_argument("--registry", type=Path, default=None, metavar="DIR")
    promote.set_defaults(handler=_promote)


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a comma-separated list of distinct names, not "
                                         f"{text!r}")
    return names


def _registry_dir(given: Path | None) -> Path:
    return given if given is not None else Path(get_settings().ml.registry)  # type: ignore[attr-defined]


def _train(args: argparse.Namespace) -> int:
    from processors.ml.dataset import horizon_bars
    from processors.ml.pipeline import train_and_register
    from processors.ml.registry import Registry
    from processors.ml.training import TrainConfig

    horizon = horizon_bars(args.target)
    if not 0 < args.validation_share < 1:
        raise ConfigError("--validation-share must be between 0 and 1")
    if args.gap is not None and args.gap < 0:
        raise ConfigError("--gap must be 0 or more")
    sequence_length = args.sequence_length or (16 if args.model == "gru" else 1)
    config = TrainConfig(
        kind=args.model, horizon=horizon, sequence_length=sequence_length, hidden=args.hidden,
        folds=args.folds, gap=args.gap, epochs=args.epochs, patience=args.patience,
        batch_size=args.batch_size, learning_rate=args.learning_rate,
        validation_share=args.validation_share, seed=args.seed)
    registry = Registry(_registry_dir(args.out))
    name = args.name or f"{args.model}_{args.target}"
    trained = train_and_register(
        args.input, args.target, config, registry, name, args.features,
        datetime.now(UTC).isoformat(timespec="seconds"), lambda line: print(line, flush=True))
    oos = trained.walk_forward.oos
    print(f"out of sample ({trained.walk_forward.samples} samples, {config.folds} folds):")
    for forecast in ("model", "zero", "last"):
        print(f"  {forecast:<5} {_figures(oos[forecast])}")
    print(f"registered {name} version {trained.version} in {registry.root}; serve it with: "
          f"nautilus-streams ml promote {name} {trained.version}"
          + (f" --registry {registry.root}" if args.out is not None else ""))
    return 0


def _figures(figures: dict[str, Any]) -> str:
    def text(value: float | None, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    return (f"mse {text(figures['mse'], '.6g')}  ic {text(figures['ic'], '.4f')}  "
            f"hit rate {text(figures['hit_rate'], '.4f')}")


def _list(args: argparse.Namespace) -> int:
    from processors.ml.registry import Registry

    registry = Registry(_registry_dir(args.registry))
    names = registry.names()
    if not names:
        print(f"no models in {registry.root}")
        return 0
    for name in names:
        promoted = registry.promoted(name)
        for version in registry.versions(name):
            meta = registry.meta(name, version)
            mark = "*" if version == promoted else " "
            print(f"{mark} {name} {version}  {meta['network']['kind']} {meta['target']['name']} "
                  f"{len(meta['features'])} features  {meta['created_at']}  out of sample: "
                  f"{_figures(meta['metrics']['out_of_sample']['model'])}")
    print("(* promoted)")
    return 0


def _show(args: argparse.Namespace) -> int:
    from processors.ml.registry import Registry

    meta = Registry(_registry_dir(args.registry)).meta(args.name, args.version)
    json.dump(meta, sys.stdout, indent=2)
    print()
    return 0


def _promote(args: argparse.Namespace) -> int:
    from processors.ml.registry import Registry

    registry = Registry(_registry_dir(args.registry))
    before = registry.promoted(args.name)
    registry.promote(args.name, args.version)
    print(f"promoted {args.name} version {args.version} (was {before or 'none'}) in "
          f"{registry.root}")
    return 0
