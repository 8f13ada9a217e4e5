"""Identity hashing for bijectors, and TFP compositions that use it.

Identity hashing is needed for correctness, not only for speed.

TFP's bijector cache is one store shared by all bijectors: it maps an input
tensor to its output (and log-det) under a key that includes the bijector,
compared with the bijector's `__hash__`/`__eq__`. `tfb.Bijector` hashes and
compares by constructor parameters. Our bijectors keep their learned values
in variables, which are not constructor parameters, so two `ActNorm(3)`
(same `num_channels`, `epsilon`, `dtype`, `name`) are *equal* to TFP even
when their variables differ, e.g. after one was initialised or trained. They
would then share cache entries: after `y = a.forward(x)`, `b.inverse(y)`
would return `x` (`a`'s inverse) instead of `b`'s. A Glow has many steps
built with equal parameters, so this would silently corrupt its log-likelihood
and samples. Hashing and comparing by object identity (`IdentityHashed`)
gives every bijector its own cache entries.

It is also faster: TFP hashes a bijector by walking its constructor
parameters, recursively through nested `Chain`s, and its cache hashes a
bijector on every call. For a deep Glow that made graph tracing grow with the
square of the number of steps (a 2-level, 8-step Glow on 8x8 images: 12.7 s
to trace `log_prob`; with identity hashing: 4.2 s). That is why the
compositions (`Chain`, `JointMap`, `Invert`) are identity hashed too.

What identity hashing does not change: for one bijector, TFP's cache stays
keyed on the input tensor *object*. In eager mode, reusing the same tensor
after assigning the bijector's variables can return the earlier (stale)
result or log-det; pass a new tensor. In a `tf.function` the cache is only
consulted while tracing, so the traced graph always reads the variables.
"""

from tfp_flows.bijectors import _tfp_private

__all__ = ['Chain', 'IdentityHashed', 'Invert', 'JointMap']


class IdentityHashed:
  """Mixin (put it first in the bases): hash and compare by object identity.

  Required for correctness of every bijector whose state lives in variables
  (see the module docstring): without it, two such bijectors with equal
  constructor parameters share TFP cache entries.
  """

  def __hash__(self):
    return id(self)

  def __eq__(self, other):
    return self is other


# The non-CompositeTensor compositions: what `tfb.Chain` etc. return anyway
# when a part (like every bijector of ours) is not a CompositeTensor.


class Chain(IdentityHashed, _tfp_private.Chain):
  """`tfb.Chain` with identity hashing."""


class JointMap(IdentityHashed, _tfp_private.JointMap):
  """`tfb.JointMap` with identity hashing."""


class Invert(IdentityHashed, _tfp_private.Invert):
  """`tfb.Invert` with identity hashing."""
