"""Forecast models on the stream: training (`ml train`), the registry, and the `ml` engine.

- `dataset`: samples from the logic.features records of replay or backtest outputs;
- `networks`: the model kinds (linear, mlp, gru);
- `training` and `evaluation`: walk-forward training and its out-of-sample figures;
- `registry`: versioned models on disk and the promoted pointer;
- `engine`: the `ml` engine, logic.features -> logic.predictions with the promoted model.

Importing this package imports no torch; its modules but `params` and `exceptions` do.
"""
