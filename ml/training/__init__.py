"""Making a detector: cached crops and splits (prepare, data), pseudo-fakes and degradations, the trainers
(train: the CNN-LSTM; clip_features/clip_extra/clip_train: the CLIP head), calibration and checkpoints."""
