"""TensorFlow's stateless uniform draw, computed with ops that LiteRT has built in.

``tf.random.stateless_uniform`` has no LiteRT builtin: the LiteRT converter folds
it into a constant when the shape is fully known, and otherwise (a model exported
with a dynamic batch, as ``model.export(path, format="litert")`` does) it needs
the Flex delegate, which the ``ai-edge-litert`` interpreter does not have. The
functions here draw the same numbers, bit for bit, with int64 ``MUL``, ``ADD``,
``SUB`` and ``FLOOR_MOD``, ``CAST``, uint32 ``RIGHT_SHIFT`` and ``BITWISE_XOR``,
and ``BITCAST``: LiteRT builtins all.

The generator is Philox-4x32-10, as in TensorFlow's
``tensorflow/core/lib/random/philox_random.h``:

- the key and counter come from the seed as ``StatelessRandomGetKeyCounter``
  derives them (``GenerateKey`` in ``stateless_random_ops.cc``): one Philox call
  on the seed's four 32-bit words under a fixed key; the key is words 0-1 of the
  result, the counter ``(0, 0, word 2, word 3)``;
- output ``i`` is word ``i % 4`` of Philox of the counter plus ``i // 4``;
- each 32-bit word becomes a float as ``Uint32ToFloat`` does
  (``random_distributions.h``): its low 23 bits as the mantissa of a float in
  ``[1, 2)``, minus 1.

32-bit words are held in int64 tensors, in ``[0, 2**32)``; products are split so
that no int64 operation overflows (LiteRT has no 64-bit shifts or ``AND``).
"""

import tensorflow as tf

_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_KEY_INCREMENTS = (0x9E3779B9, 0xBB67AE85)
_SCRAMBLE_KEY = (0x3EC8F720, 0x02461E29)  # GenerateKey's fixed key
_ROUNDS = 10
_WORD = 2**32
_MASK = _WORD - 1


def _philox_python(counter, key):
    """Philox-4x32-10 of four 32-bit words under a two-word key, in Python ints."""
    counter, key = list(counter), list(key)
    for _ in range(_ROUNDS):
        p0, p1 = _MULTIPLIERS[0] * counter[0], _MULTIPLIERS[1] * counter[2]
        counter = [
            ((p1 >> 32) ^ counter[1] ^ key[0]) & _MASK,
            p1 & _MASK,
            ((p0 >> 32) ^ counter[3] ^ key[1]) & _MASK,
            p0 & _MASK,
        ]
        key = [
            (k + increment) & _MASK
            for k, increment in zip(key, _KEY_INCREMENTS, strict=True)
        ]
    return counter


def key_counter(seed):
    """The Philox key and the two high counter words for an int pair ``seed``.

    Parameters
    ----------
    seed : tuple of int
        Two 64-bit integers, as ``tf.random.stateless_uniform`` takes them.

    Returns
    -------
    key : tuple of int
        The two 32-bit words of the key.
    counter_high : tuple of int
        Words 2 and 3 of the counter (words 0 and 1 are zero).
    """
    words = []
    for s in seed:
        s %= 2**64
        words += [s & _MASK, s >> 32]
    mix = _philox_python(words, _SCRAMBLE_KEY)
    return (mix[0], mix[1]), (mix[2], mix[3])


def _shift_right_16(x):
    """``x >> 16`` for int64 ``0 <= x < 2**32`` (a uint32 shift)."""
    shifted = tf.bitwise.right_shift(tf.cast(x, tf.uint32), tf.constant(16, tf.uint32))
    return tf.cast(shifted, tf.int64)


def _shift_right_32(x):
    """``x >> 32`` for int64 ``0 <= x < 2**56``: the multiple of ``2**32`` below
    ``x`` has at most 24 significant bits, so float32 holds it exactly."""
    whole = x - tf.math.floormod(x, _WORD)
    return tf.cast(tf.cast(whole, tf.float32) * 2.0**-32, tf.int64)


def _mulhilo(m, x):
    """The low and high 32-bit words of ``m * x``, for a 32-bit Python int ``m`` and
    int64 ``x`` in ``[0, 2**32)``, without int64 overflow."""
    x_high = _shift_right_16(x)
    a = m * (x - x_high * 2**16)  # < 2**48
    b = m * x_high  # < 2**48, and m * x = b * 2**16 + a
    s = tf.math.floormod(b, _WORD) * 2**16 + tf.math.floormod(a, _WORD)  # < 2**49
    high = _shift_right_32(b) * 2**16 + _shift_right_32(a) + _shift_right_32(s)
    return tf.math.floormod(s, _WORD), high


def _xor(*words):
    """Bitwise XOR of int64 words in ``[0, 2**32)`` (a uint32 XOR)."""
    result = tf.cast(words[0], tf.uint32)
    for word in words[1:]:
        result = tf.bitwise.bitwise_xor(result, tf.cast(word, tf.uint32))
    return tf.cast(result, tf.int64)


def _philox(counter, key):
    """Philox-4x32-10 in graph ops, on int64 tensors of 32-bit words.

    ``counter`` holds four tensors, the others broadcastable to the first; ``key``
    two scalars. The ten rounds run in a loop, so that an exported model holds the
    ops of one round, not ten.
    """
    shape = tf.shape(counter[0])
    counter = [tf.broadcast_to(tf.cast(c, tf.int64), shape) for c in counter]
    key = [tf.cast(k, tf.int64) for k in key]

    def round_(i, c0, c1, c2, c3, k0, k1):
        low0, high0 = _mulhilo(_MULTIPLIERS[0], c0)
        low1, high1 = _mulhilo(_MULTIPLIERS[1], c2)
        return (
            i + 1,
            _xor(high1, c1, k0),
            low1,
            _xor(high0, c3, k1),
            low0,
            tf.math.floormod(k0 + _KEY_INCREMENTS[0], _WORD),
            tf.math.floormod(k1 + _KEY_INCREMENTS[1], _WORD),
        )

    _, *counter, _, _ = tf.while_loop(
        lambda i, *_: i < _ROUNDS,
        round_,
        (tf.constant(0), *counter, *key),
        maximum_iterations=_ROUNDS,
    )
    return counter


def _to_float(word):
    """``Uint32ToFloat``: the low 23 bits as the mantissa of a float in ``[1, 2)``,
    minus 1."""
    bits = tf.math.floormod(word, 2**23) + (127 << 23)
    return tf.bitcast(tf.cast(bits, tf.int32), tf.float32) - 1.0


def _uniform(shape, key, counter_high):
    """``n = prod(shape)`` floats from ``ceil(n / 4)`` Philox counters."""
    n = tf.reduce_prod(tf.cast(shape, tf.int32))
    # ceil(n / 4) in int32: LiteRT has no int64 FLOOR_DIV, and a float op here
    # would be quantised by an int8 converter.
    groups = tf.cast(tf.math.floordiv(n + 3, 4), tf.int64)
    zero = tf.zeros((), tf.int64)
    words = _philox([tf.range(groups, dtype=tf.int64), zero, *counter_high], key)
    flat = _to_float(tf.reshape(tf.stack(words, axis=1), [-1]))
    return tf.reshape(flat[:n], shape)


# XLA-compiled in TensorFlow (3-8x faster than the ops one by one); the LiteRT
# converter inlines a compiled function like any other.
_compiled_uniform = tf.function(
    _uniform, jit_compile=True, autograph=False, reduce_retracing=True
)


def stateless_uniform(shape, seed):
    """``tf.random.stateless_uniform(shape, seed, dtype="float32", alg="philox")``,
    bit for bit, in LiteRT builtin ops.

    Parameters
    ----------
    shape : sequence of int or scalar int tensor
        The shape; entries may be tensors (e.g. a batch size known only when the
        graph runs).
    seed : tuple of int
        Two 64-bit integers.

    Returns
    -------
    tensor
        float32 values uniform on ``[0, 1)``.
    """
    key, counter_high = key_counter(seed)
    as_words = tuple(tf.constant(w, tf.int64) for w in (*key, *counter_high))
    return _compiled_uniform(
        tf.stack([tf.cast(d, tf.int32) for d in shape]), as_words[:2], as_words[2:]
    )


def stateless_uniform_tensor_seed(shape, seed):
    """As `stateless_uniform`, for a seed tensor of two non-negative int32 values
    (as Keras's TensorFlow backend draws them from a ``SeedGenerator``); the key
    and counter are then derived in the graph too.

    Parameters
    ----------
    shape : sequence of int or scalar int tensor
        The shape, as for `stateless_uniform`.
    seed : tensor
        Two int32 values in ``[0, 2**31)``.
    """
    seed = tf.cast(seed, tf.int64)
    zero = tf.zeros((), tf.int64)
    mix = _philox([seed[0], zero, seed[1], zero], _SCRAMBLE_KEY)
    return _compiled_uniform(
        tf.stack([tf.cast(d, tf.int32) for d in shape]),
        (mix[0], mix[1]),
        (mix[2], mix[3]),
    )
