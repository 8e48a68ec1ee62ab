"""Train the CNN-LSTM detector: ``python -m ml.train`` (the code lives in ``ml.training.train``)."""
from ml.training.train import main

if __name__ == "__main__":
    main()
