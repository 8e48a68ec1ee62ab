"""The networks: the builders by name (builders), the checkpoint format (checkpoint), the CLIP ViT-B/16 port
and the CLIP detector head, and the CNN-LSTM baseline's pretrained backbone (EfficientNet-Lite0)."""
