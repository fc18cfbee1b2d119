// Package tokenizer converts a Hugging Face checkpoint's SentencePiece-style
// tokenizer into the vocabulary GGUF stores for llama.cpp, converts such a
// vocabulary back into Hugging Face tokenizer files, and encodes text to
// token ids.
//
// Load follows llama.cpp's convert_hf_to_gguf.py for Llama-family models
// (Mixtral included): tokenizer.model through _set_vocab_sentencepiece,
// otherwise tokenizer.json through _set_vocab_llama_hf, then gguf-py's
// SpecialVocab for special ids, add_*_token flags and chat templates.
// tokenizer.model is decoded by a small protobuf wire-format reader of its
// own (ParseModel); there is no protobuf dependency.
//
// GGUFMetadata lists the keys in llama.cpp's order as KV values whose Go
// types map one to one onto GGUF types (see KV); FromGGUFMetadata reads them
// back, and WriteHF writes tokenizer.model, tokenizer.json,
// tokenizer_config.json and special_tokens_map.json from a Vocab.
//
// Where this package knowingly differs from convert_hf_to_gguf.py:
//   - tokenizer_config.json "add_prefix_space": null writes no
//     add_space_prefix key (the script writes false, which turns off
//     llama.cpp's dummy prefix);
//   - negative special ids in config.json are skipped (the script raises);
//   - the tokenizer.json path pads to the model's vocabulary size like the
//     tokenizer.model path (the script does not pad there), and a tokenizer
//     larger than the model's vocabulary is an error (the script drops the
//     extra tokens with a warning);
//   - several named chat templates are written in file order (the script
//     uses a set, so its order varies from run to run).
package tokenizer
