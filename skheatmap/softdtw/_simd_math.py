"""Branch-free ``exp`` and ``log`` that LLVM can vectorise across SIMD lanes.

numba calls libm for ``math.exp``/``math.log`` one lane at a time unless Intel's
SVML is installed, which it usually is not. The soft-min needs two exps and
one log per cell, so scalar libm calls would dominate the whole DP. These
versions use only arithmetic, comparisons and bit casts (range reduction plus
near-minimax polynomials summed by Estrin's scheme, with explicit FMAs), which
the loop vectoriser turns into AVX code.

Accuracy is spent where the soft-min needs it, and no more: its exps are added
to 1, so what counts is their absolute error, at most half an ulp of 1; the
relative error of a tiny exp grows as ``3.4e-17·|x|`` (the reduction by
``k·ln 2`` in one FMA, whose rounded ln 2 is off by 2e-17 per unit of k), which
saves an operation per exp, 5 % of the all-pairs time. The log is within an
ulp of its value on [1, 4].
"""

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
_ROUND_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer
# Below this we return 0. Above it exp(x) is a normal number, whose exponent
# field takes 2**k by an integer add; at -708 it could be subnormal.
_EXP_FLOOR = -705.0
_SQRT2 = 1.4142135623730951
# Near-minimax polynomials (Chebyshev fits computed with mpmath at 40 digits,
# rounded to double), lowest degree first. exp on |r| <= ln(2)/2: error 3e-18.
_EXP = (
    1.0,
    1.0,
    0.5000000000000019,
    0.1666666666666668,
    0.0416666666664881,
    0.008333333333319601,
    0.0013888888952314775,
    0.00019841269890047113,
    2.4801485482328494e-05,
    2.755724091857897e-06,
    2.763263963904103e-07,
    2.5110037605963777e-08,
)
# 2·atanh(z)/z as a polynomial in w = z² on w <= (3 - 2 sqrt(2))²: error 2e-18
# (the fit of atanh(z)/z, doubled: exact in binary).
_TWO_ATANH = (
    2.0,
    0.6666666666666765,
    0.3999999999930234,
    0.2857142876064168,
    0.22222197056726048,
    0.18183631680229329,
    0.1531252814836419,
    0.14809710360655276,
)


@intrinsic
def _float_bits(typingctx, value):
    """Reinterpret a float64 as the int64 with the same bits."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, bits):
    """Reinterpret an int64 as the float64 with the same bits."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma``: one vfmadd, vectorisable)."""

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        fnty = ir.FunctionType(double, [double, double, double])
        intrinsic_fma = cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.f64")
        return builder.call(intrinsic_fma, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@njit(cache=True, inline="always", error_model="numpy")
def exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0`` (``-inf``, anything below -705, and NaN give 0).

    NaN gives 0 because both of its comparisons are false: the soft-min relies
    on it for ``(+inf) - (+inf)``, when all three predecessors are unreachable.
    """
    clipped = x if x > _EXP_FLOOR else _EXP_FLOOR  # a select: max() would be a call
    shifted = fma(clipped, _LOG2E, _ROUND_SHIFT)
    k = shifted - _ROUND_SHIFT
    r = fma(-k, _LN2, clipped)
    # Estrin's scheme: 4 dependent steps instead of Horner's 11, so the
    # out-of-order core overlaps neighbouring cells (the soft-min is latency-bound).
    c = _EXP
    r2 = r * r
    r4 = r2 * r2
    low = fma(fma(c[3], r, c[2]), r2, fma(c[1], r, c[0]))
    middle = fma(fma(c[7], r, c[6]), r2, fma(c[5], r, c[4]))
    high = fma(fma(c[11], r, c[10]), r2, fma(c[9], r, c[8]))
    p = fma(fma(high, r4, middle), r4, low)
    exponent = _float_bits(shifted) - _float_bits(_ROUND_SHIFT)
    scaled = _bits_float(_float_bits(p) + (exponent << 52))  # p·2**k, without a multiply
    return scaled if x >= _EXP_FLOOR else 0.0


@njit(cache=True, inline="always", error_model="numpy")
def log_1_to_4(s):
    """``log(s)`` for ``1 <= s <= 4`` (the soft-min's partition function)."""
    # Scale s by 1, 1/2 or 1/4 into [sqrt(2)/2, sqrt(2)], then log u = 2 atanh(z)
    # with z = (u - 1) / (u + 1), |z| <= 3 - 2 sqrt(2) ~ 0.1716 (Estrin again).
    big, huge = s > _SQRT2, s > 2.0 * _SQRT2
    halvings = (1.0 if big else 0.0) + (1.0 if huge else 0.0)
    u = s * (0.25 if huge else (0.5 if big else 1.0))
    z = (u - 1.0) / (u + 1.0)
    w = z * z
    c = _TWO_ATANH
    w2 = w * w
    low = fma(fma(c[3], w, c[2]), w2, fma(c[1], w, c[0]))
    high = fma(fma(c[7], w, c[6]), w2, fma(c[5], w, c[4]))
    p = fma(high, w2 * w2, low)
    return fma(halvings, _LN2, z * p)
