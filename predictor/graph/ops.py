"""The canonical op vocabulary shared by every front end, and the tables that map
ONNX ``op_type`` and TFLite builtin names onto it.

Anything not in a table becomes ``unknown:<source name>``: kept as a node,
counted in the summary, never dropped.
"""

from __future__ import annotations

# canonical op -> category. Categories group ops for cost formulas and features.
CATEGORY: dict[str, str] = {
    # compute-heavy (MACs)
    "conv": "conv", "dwconv": "conv", "conv_transpose": "conv",
    "fc": "matmul", "matmul": "matmul", "einsum": "matmul",
    "lstm": "rnn", "gru": "rnn", "rnn": "rnn",
    # elementwise binary / unary math
    "add": "eltwise", "sub": "eltwise", "mul": "eltwise", "div": "eltwise", "pow": "eltwise",
    "max": "eltwise", "min": "eltwise", "mean": "eltwise", "mod": "eltwise",
    "squared_difference": "eltwise", "sqrt": "eltwise", "rsqrt": "eltwise", "exp": "eltwise",
    "log": "eltwise", "abs": "eltwise", "neg": "eltwise", "reciprocal": "eltwise",
    "floor": "eltwise", "ceil": "eltwise", "round": "eltwise", "sign": "eltwise",
    "erf": "eltwise", "sin": "eltwise", "cos": "eltwise", "square": "eltwise",
    "compare": "eltwise", "logical": "eltwise", "where": "eltwise", "cast": "eltwise",
    # activations
    "relu": "activation", "relu6": "activation", "sigmoid": "activation",
    "hardswish": "activation", "hardsigmoid": "activation", "gelu": "activation",
    "silu": "activation", "tanh": "activation", "leaky_relu": "activation",
    "prelu": "activation", "clip": "activation", "elu": "activation", "selu": "activation",
    "softplus": "activation", "softsign": "activation", "mish": "activation",
    # normalisation and softmax
    "batchnorm": "norm", "layernorm": "norm", "instancenorm": "norm", "groupnorm": "norm",
    "lrn": "norm", "l2norm": "norm", "rmsnorm": "norm",
    "softmax": "softmax", "log_softmax": "softmax",
    # pooling and reductions
    "maxpool": "pool", "avgpool": "pool", "global_maxpool": "pool", "global_avgpool": "pool",
    "reduce_mean": "reduce", "reduce_sum": "reduce", "reduce_max": "reduce",
    "reduce_min": "reduce", "reduce_prod": "reduce", "reduce_l2": "reduce",
    "argmax": "reduce", "argmin": "reduce", "topk": "reduce", "cumsum": "reduce",
    # data movement / layout
    "concat": "memory", "split": "memory", "reshape": "memory", "transpose": "memory",
    "flatten": "memory", "squeeze": "memory", "unsqueeze": "memory", "slice": "memory",
    "gather": "memory", "gather_nd": "memory", "scatter": "memory", "pad": "memory",
    "expand": "memory", "tile": "memory", "identity": "memory", "resize": "memory",
    "depth_to_space": "memory", "space_to_depth": "memory", "pack": "memory",
    "unpack": "memory", "shape": "memory", "constant_of_shape": "memory", "range": "memory",
    "nms": "memory", "nonzero": "memory",
    # quantisation
    "quantize": "quant", "dequantize": "quant",
    # control flow
    "if": "control", "loop": "control", "scan": "control", "call": "control",
}

CANONICAL_OPS: tuple[str, ...] = tuple(sorted(CATEGORY))

_ELEMENTWISE_FLOPS = {"sigmoid": 4, "tanh": 4, "gelu": 8, "silu": 5, "hardswish": 4,
                      "hardsigmoid": 3, "elu": 4, "selu": 5, "softplus": 3, "mish": 8,
                      "exp": 2, "log": 2, "erf": 4, "pow": 2, "sqrt": 2, "rsqrt": 2}


def flops_per_element(op: str) -> int:
    """Rough FLOPs per output element for elementwise ops and activations."""
    return _ELEMENTWISE_FLOPS.get(op, 1)


def category(op: str) -> str:
    return "unknown" if op.startswith("unknown:") else CATEGORY.get(op, "unknown")


def unknown(name: str) -> str:
    return f"unknown:{name}"


ONNX_OPS: dict[str, str] = {
    "Conv": "conv", "ConvInteger": "conv", "QLinearConv": "conv", "ConvTranspose": "conv_transpose",
    "Gemm": "fc", "MatMul": "matmul", "MatMulInteger": "matmul", "QLinearMatMul": "matmul",
    "Einsum": "einsum", "LSTM": "lstm", "GRU": "gru", "RNN": "rnn",
    "Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "max",
    "Min": "min", "Mean": "mean", "Sum": "add", "Mod": "mod", "Sqrt": "sqrt", "Exp": "exp",
    "Log": "log", "Abs": "abs", "Neg": "neg", "Reciprocal": "reciprocal", "Floor": "floor",
    "Ceil": "ceil", "Round": "round", "Sign": "sign", "Erf": "erf", "Sin": "sin", "Cos": "cos",
    "Equal": "compare", "Less": "compare", "Greater": "compare", "LessOrEqual": "compare",
    "GreaterOrEqual": "compare", "And": "logical", "Or": "logical", "Not": "logical",
    "Xor": "logical", "Where": "where", "Cast": "cast", "CastLike": "cast",
    "Relu": "relu", "Sigmoid": "sigmoid", "HardSwish": "hardswish", "HardSigmoid": "hardsigmoid",
    "Gelu": "gelu", "FastGelu": "gelu", "Tanh": "tanh", "LeakyRelu": "leaky_relu",
    "PRelu": "prelu", "Clip": "clip", "Elu": "elu", "Selu": "selu", "Softplus": "softplus",
    "Softsign": "softsign", "Mish": "mish", "Swish": "silu",
    "BatchNormalization": "batchnorm", "LayerNormalization": "layernorm",
    "InstanceNormalization": "instancenorm", "GroupNormalization": "groupnorm",
    "LpNormalization": "l2norm", "LRN": "lrn", "RMSNormalization": "rmsnorm",
    "SimplifiedLayerNormalization": "rmsnorm",
    "Softmax": "softmax", "LogSoftmax": "log_softmax",
    "MaxPool": "maxpool", "AveragePool": "avgpool", "GlobalMaxPool": "global_maxpool",
    "GlobalAveragePool": "global_avgpool", "QLinearGlobalAveragePool": "global_avgpool",
    "ReduceMean": "reduce_mean", "ReduceSum": "reduce_sum", "ReduceMax": "reduce_max",
    "ReduceMin": "reduce_min", "ReduceProd": "reduce_prod", "ReduceL2": "reduce_l2",
    "ArgMax": "argmax", "ArgMin": "argmin", "TopK": "topk", "CumSum": "cumsum",
    "Concat": "concat", "Split": "split", "Reshape": "reshape", "Transpose": "transpose",
    "Flatten": "flatten", "Squeeze": "squeeze", "Unsqueeze": "unsqueeze", "Slice": "slice",
    "Gather": "gather", "GatherElements": "gather", "GatherND": "gather_nd",
    "ScatterND": "scatter", "ScatterElements": "scatter", "Pad": "pad", "Expand": "expand",
    "Tile": "tile", "Identity": "identity", "Dropout": "identity", "Resize": "resize",
    "Upsample": "resize", "DepthToSpace": "depth_to_space", "SpaceToDepth": "space_to_depth",
    "Shape": "shape", "Size": "shape", "ConstantOfShape": "constant_of_shape", "Range": "range",
    "NonMaxSuppression": "nms", "NonZero": "nonzero",
    "QGemm": "fc", "QLinearAdd": "add", "QLinearMul": "mul", "QLinearSigmoid": "sigmoid",
    "QLinearLeakyRelu": "leaky_relu", "QLinearConcat": "concat", "QLinearAveragePool": "avgpool",
    "QLinearSoftmax": "softmax",
    "QuantizeLinear": "quantize", "DequantizeLinear": "dequantize",
    "DynamicQuantizeLinear": "quantize",
    "If": "if", "Loop": "loop", "Scan": "scan",
}

TFLITE_OPS: dict[str, str] = {
    "CONV_2D": "conv", "DEPTHWISE_CONV_2D": "dwconv", "TRANSPOSE_CONV": "conv_transpose",
    "CONV_3D": "conv", "CONV_3D_TRANSPOSE": "conv_transpose",
    "FULLY_CONNECTED": "fc", "BATCH_MATMUL": "matmul",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "lstm", "BIDIRECTIONAL_SEQUENCE_LSTM": "lstm", "LSTM": "lstm",
    "UNIDIRECTIONAL_SEQUENCE_RNN": "rnn", "RNN": "rnn",
    "ADD": "add", "ADD_N": "add", "SUB": "sub", "MUL": "mul", "DIV": "div", "POW": "pow",
    "MAXIMUM": "max", "MINIMUM": "min", "FLOOR_MOD": "mod", "FLOOR_DIV": "div",
    "SQUARED_DIFFERENCE": "squared_difference", "SQRT": "sqrt", "RSQRT": "rsqrt", "EXP": "exp",
    "LOG": "log", "ABS": "abs", "NEG": "neg", "FLOOR": "floor", "CEIL": "ceil", "ROUND": "round",
    "SIGN": "sign", "SIN": "sin", "COS": "cos", "SQUARE": "square",
    "EQUAL": "compare", "NOT_EQUAL": "compare", "LESS": "compare", "GREATER": "compare",
    "LESS_EQUAL": "compare", "GREATER_EQUAL": "compare", "LOGICAL_AND": "logical",
    "LOGICAL_OR": "logical", "LOGICAL_NOT": "logical", "SELECT": "where", "SELECT_V2": "where",
    "CAST": "cast",
    "RELU": "relu", "RELU6": "relu6", "RELU_N1_TO_1": "clip", "RELU_0_TO_1": "clip",
    "LOGISTIC": "sigmoid", "HARD_SWISH": "hardswish", "GELU": "gelu", "TANH": "tanh",
    "LEAKY_RELU": "leaky_relu", "PRELU": "prelu", "ELU": "elu",
    "L2_NORMALIZATION": "l2norm", "LOCAL_RESPONSE_NORMALIZATION": "lrn",
    "SOFTMAX": "softmax", "LOG_SOFTMAX": "log_softmax",
    "MAX_POOL_2D": "maxpool", "AVERAGE_POOL_2D": "avgpool", "L2_POOL_2D": "avgpool",
    "MEAN": "reduce_mean", "SUM": "reduce_sum", "REDUCE_MAX": "reduce_max",
    "REDUCE_MIN": "reduce_min", "REDUCE_PROD": "reduce_prod", "ARG_MAX": "argmax",
    "ARG_MIN": "argmin", "TOPK_V2": "topk", "CUMSUM": "cumsum",
    "CONCATENATION": "concat", "SPLIT": "split", "SPLIT_V": "split", "RESHAPE": "reshape",
    "TRANSPOSE": "transpose", "SQUEEZE": "squeeze", "EXPAND_DIMS": "unsqueeze",
    "SLICE": "slice", "STRIDED_SLICE": "slice", "GATHER": "gather", "GATHER_ND": "gather_nd",
    "SCATTER_ND": "scatter", "PAD": "pad", "PADV2": "pad", "MIRROR_PAD": "pad",
    "BROADCAST_TO": "expand", "TILE": "tile", "RESIZE_BILINEAR": "resize",
    "RESIZE_NEAREST_NEIGHBOR": "resize", "DEPTH_TO_SPACE": "depth_to_space",
    "SPACE_TO_DEPTH": "space_to_depth", "PACK": "pack", "UNPACK": "unpack", "SHAPE": "shape",
    "FILL": "constant_of_shape", "RANGE": "range",
    "NON_MAX_SUPPRESSION_V4": "nms", "NON_MAX_SUPPRESSION_V5": "nms", "WHERE": "nonzero",
    "QUANTIZE": "quantize", "DEQUANTIZE": "dequantize",
    "IF": "if", "WHILE": "loop", "CALL_ONCE": "call",
}

#: ops whose constant inputs are configuration (shapes, axes, indices, scales), not parameters
NON_PARAM_OPS = frozenset(
    op for op, cat in CATEGORY.items() if cat in ("memory", "quant", "reduce", "control")
) - {"gather", "gather_nd"}
