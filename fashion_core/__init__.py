"""fashion-tune core: fashion data, the attribute Mask R-CNN, the AP^{IoU+F1} evaluator and the Tune trainable."""

__version__ = "0.1.0"
