using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// The <c>model</c> of BigBirdPegasusForCausalLM: the decoder alone, so that its tensors keep the names
/// <c>model.decoder.*</c> they have in a BigBirdPegasusForConditionalGeneration checkpoint. Ports
/// <c>BigBirdPegasusDecoderWrapper</c> (transformers 4.27.1).
/// </summary>
public sealed class BigBirdPegasusDecoderWrapper
{
    /// <summary>decoder</summary>
    public BigBirdPegasusDecoder Decoder { get; }
    /// <summary>decoder.embed_tokens: the decoder's own token embedding [vocab_size, d_model].</summary>
    public Embedding EmbedTokens { get; }

    internal BigBirdPegasusDecoderWrapper(WeightLoader w, string prefix, BigBirdPegasusConfig config)
    {
        // a CausalLM checkpoint holds decoder.embed_tokens.weight; a ConditionalGeneration one may keep only the shared table
        // it is tied to (save_pretrained without the tied copies), which is the same tensor
        string embed = w.Has($"{prefix}decoder.embed_tokens.weight") || !w.Has($"{prefix}shared.weight") ? $"{prefix}decoder.embed_tokens" : $"{prefix}shared";
        EmbedTokens = new Embedding(w, embed, config.VocabSize, config.DModel);
        Decoder = new BigBirdPegasusDecoder(w, $"{prefix}decoder", config, EmbedTokens);
    }
}
