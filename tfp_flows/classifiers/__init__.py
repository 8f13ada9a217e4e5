"""Small CNN classifiers for FashionMNIST and MNIST (the semantics check).

Does a likelihood-changing transformation of an image keep what the image
shows? Classify the images before and after and compare::

    from tfp_flows import classifiers
    clf = classifiers.load_classifier('runs/classifiers/mnist')
    labels = clf.predict(images)            # uint8 or float grey levels

Train one with `train_classifier` or `bin/train_classifier`; see
docs/CLASSIFIERS.md. Gin is not imported here: `configurables` registers
`train_classifier` for the command line.
"""

from tfp_flows.classifiers.cnn import ImageClassifier
from tfp_flows.classifiers.loading import load_classifier
from tfp_flows.classifiers.training import evaluate_classifier
from tfp_flows.classifiers.training import save_classifier
from tfp_flows.classifiers.training import train_classifier

__all__ = [
    'ImageClassifier',
    'evaluate_classifier',
    'load_classifier',
    'save_classifier',
    'train_classifier',
]
