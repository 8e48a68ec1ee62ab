"""Evaluate a checkpoint: ``python -m ml.evaluate`` (the code lives in ``ml.evaluation.evaluate``)."""
from ml.evaluation.evaluate import main

if __name__ == "__main__":
    main()
