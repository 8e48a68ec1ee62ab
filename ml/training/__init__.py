"""Making a detector: cached crops and splits (prepare, data), pseudo-fakes, the CNN-LSTM baseline's trainer
(train, train_stages, train_choice), the CLIP head's caches, trainer and finish (clip_features, clip_extra,
clip_train, clip_finish), detector v4's token cache and tuning (token_cache, ln_train), and retraining (retrain)."""
