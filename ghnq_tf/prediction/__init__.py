"""Prediction: the GHN's parameters placed into a quantize-aware model.

This stage combines the hypernetwork (`ghnq_tf.hypernet`) with quantization
(`ghnq_tf.quant`): `predict` / `predict_many` (`gq.predict`,
`gq.predict_many`) and the per-layer bitwidth predictions of mixed-precision
policies (`ghnq_tf.prediction.mixed`). Training, evaluation and tuning build
on it.
"""
