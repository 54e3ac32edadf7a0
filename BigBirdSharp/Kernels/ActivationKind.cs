namespace BigBirdSharp.Kernels;

/// <summary>
/// The activations of transformers' <c>ACT2FN</c> that a BigBird config may name in <c>hidden_act</c>.
/// Ported from transformers 4.27.1 <c>activations.py</c>.
/// </summary>
public enum ActivationKind
{
    /// <summary><c>gelu</c>: exact, 0.5·x·(1 + erf(x/√2)).</summary>
    Gelu,
    /// <summary><c>gelu_new</c>: tanh approximation, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    GeluNew,
    /// <summary><c>gelu_fast</c>: 0.5·x·(1 + tanh(0.7978845608·x·(1 + 0.044715·x²))).</summary>
    GeluFast,
    /// <summary><c>gelu_pytorch_tanh</c>: torch's gelu(approximate="tanh").</summary>
    GeluPytorchTanh,
    /// <summary><c>gelu_python</c>: the erf formula written in Python; equal to <see cref="Gelu"/>.</summary>
    GeluPython,
    /// <summary><c>gelu_10</c>: exact gelu clipped to [-10, 10].</summary>
    Gelu10,
    /// <summary><c>quick_gelu</c>: x·sigmoid(1.702·x).</summary>
    QuickGelu,
    /// <summary><c>relu</c>.</summary>
    Relu,
    /// <summary><c>relu6</c>: min(max(x, 0), 6).</summary>
    Relu6,
    /// <summary><c>silu</c> / <c>swish</c>: x·sigmoid(x).</summary>
    Silu,
    /// <summary><c>mish</c>: x·tanh(softplus(x)).</summary>
    Mish,
    /// <summary><c>tanh</c>.</summary>
    Tanh,
    /// <summary><c>sigmoid</c>.</summary>
    Sigmoid,
    /// <summary><c>linear</c>: the identity.</summary>
    Linear,
}
