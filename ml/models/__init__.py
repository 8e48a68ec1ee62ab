"""The networks: the registry of builders (registry), the CNN backbones and ports of pretrained networks
(EfficientNet-Lite, dlib's face ResNet, CLIP ViT-B/16) and the CLIP detector head."""
