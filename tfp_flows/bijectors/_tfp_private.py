"""The private TensorFlow Probability / tf_keras symbols tfp_flows relies on.

A few things tfp_flows needs are not in TFP's public API:

* `_Chain`, `_Invert`, `_JointMap`: the non-CompositeTensor compositions,
  subclassed with identity hashing (`identity_hashing`);
* `cache_util.BijectorCacheWithGreedyAttrs` (with its `forward_attributes`
  and `inverse_attributes`): the couplings keep their log-det in the cache;
* `pixel_cnn.tf_keras.layers.Convolution2D`: the name `tfd.PixelCNN` builds
  its convolutions from, which `models.masked_conv` swaps for `BoxConv2D`
  (a subclass of `tf_keras.layers.Conv2D` overriding `convolution_op`), so
  TFP's Keras must be the `tf_keras` that `BoxConv2D` subclasses;
* `PixelCNN._make_mixture_dist`: `models.pixelcnn.noisy_log_prob` builds
  TFP's per-pixel mixture from network outputs it computed itself.

A TFP upgrade may rename or remove any of them. Importing this module checks
them all and raises an `ImportError` naming the missing symbol, the installed
versions and the known-good ones, instead of an `AttributeError` deep inside
a model later, or a silent fallback (a swap of a name TFP no longer reads
would silently turn the fast PixelCNN convolutions off). Code in tfp_flows
imports these symbols from here, never from TFP directly, so the check
covers every use.
"""

import importlib

import tensorflow_probability as tfp
import tf_keras

__all__ = [
    'BijectorCacheWithGreedyAttrs', 'Chain', 'Invert', 'JointMap',
    'KNOWN_GOOD_TFP_VERSION', 'PIXEL_CNN_KERAS_LAYERS', 'require',
]

# The versions tfp_flows is tested with (tf_keras matches TF 2.18).
KNOWN_GOOD_TFP_VERSION = '0.25.0'
KNOWN_GOOD_TF_KERAS_VERSION = '2.18.0'


def _missing(symbol, detail):
  return ImportError(
      f'tfp_flows relies on the private symbol `{symbol}`, which is missing '
      f'or has changed ({detail}) with the installed tensorflow-probability '
      f'{tfp.__version__} and tf_keras {tf_keras.__version__}. tfp_flows is '
      f'known to work with tensorflow-probability {KNOWN_GOOD_TFP_VERSION} '
      f'and tf_keras {KNOWN_GOOD_TF_KERAS_VERSION}: install those '
      f'(`pip install tensorflow-probability=={KNOWN_GOOD_TFP_VERSION}`), or '
      'port tfp_flows/bijectors/_tfp_private.py to the new version.')


def require(module_name, attribute=None):
  """Imports `module_name` and returns it or its (dotted) `attribute`.

  Args:
    module_name: Python `str`, a module path such as
      `'tensorflow_probability.python.bijectors.chain'`.
    attribute: optional Python `str`, a dotted attribute path in that module,
      such as `'_Chain'` or `'PixelCNN._make_mixture_dist'`.

  Returns:
    The module, or the attribute.

  Raises:
    ImportError: the module or an attribute on the path is missing; the
      message names the symbol and the installed and known-good versions.
  """
  symbol = module_name if attribute is None else f'{module_name}.{attribute}'
  try:
    value = importlib.import_module(module_name)
  except ImportError as e:
    raise _missing(symbol, f'cannot import `{module_name}`: {e}') from e
  path = module_name
  for part in attribute.split('.') if attribute else ():
    if not hasattr(value, part):
      raise _missing(symbol, f'`{path}` has no attribute `{part}`')
    value = getattr(value, part)
    path = f'{path}.{part}'
  return value


_BIJECTORS = 'tensorflow_probability.python.bijectors'
_PIXEL_CNN = 'tensorflow_probability.python.distributions.pixel_cnn'

Chain = require(f'{_BIJECTORS}.chain', '_Chain')
Invert = require(f'{_BIJECTORS}.invert', '_Invert')
JointMap = require(f'{_BIJECTORS}.joint_map', '_JointMap')

_CACHE_UTIL = 'tensorflow_probability.python.internal.cache_util'
BijectorCacheWithGreedyAttrs = require(_CACHE_UTIL,
                                       'BijectorCacheWithGreedyAttrs')
for _method in ('forward_attributes', 'inverse_attributes'):
  require(_CACHE_UTIL, f'BijectorCacheWithGreedyAttrs.{_method}')
del _method

# The layers namespace whose `Convolution2D` `tfd.PixelCNN` reads when it
# builds its network; `models.masked_conv` swaps that name.
PIXEL_CNN_KERAS_LAYERS = require(_PIXEL_CNN, 'tf_keras.layers')
require(_PIXEL_CNN, 'tf_keras.layers.Convolution2D')
require('tf_keras', 'layers.Conv2D.convolution_op')
if PIXEL_CNN_KERAS_LAYERS.Conv2D is not tf_keras.layers.Conv2D:
  raise _missing(
      f'{_PIXEL_CNN}.tf_keras.layers.Conv2D',
      "TFP's PixelCNN builds its layers from another Keras than tf_keras, so "
      "masked_conv's tf_keras subclass cannot replace them")
require(_PIXEL_CNN, 'PixelCNN._make_mixture_dist')
