"""tfp_flows: what the likelihood of a flow model says about an image.

Sub-packages: `bijectors` (Glow's building blocks as TFP bijectors), `models`
(Glow; one interface for discrete log-likelihood and bits/dim of uint8
images), `data` (real FashionMNIST/MNIST, offline, plus synthetic OoD sets).
"""

__version__ = '0.1.0'
