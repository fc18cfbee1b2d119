// Compares llama.cpp's tokenization (through node-llama-cpp, from a GGUF's
// vocabulary) with the reference tokenizer (@huggingface/tokenizers, the
// tokenizer library of @huggingface/transformers, over the checkpoint's
// tokenizer.json and tokenizer_config.json) on strings with
// unicode, code, numbers and whitespace, and writes the ids of the prompt
// the logit comparison runs on.
//
// usage: node tokenize.mjs MODEL.gguf CHECKPOINT_DIR PROMPT_IDS_OUT
// Exit status: 0 when every string tokenizes alike, 1 otherwise, 2 usage.
import fs from "node:fs";
import path from "node:path";
import {Tokenizer} from "@huggingface/tokenizers";
import {getLlama} from "node-llama-cpp";

const [modelPath, dir, idsOut] = process.argv.slice(2);
if (!idsOut) {
    console.error("usage: node tokenize.mjs MODEL.gguf CHECKPOINT_DIR PROMPT_IDS_OUT");
    process.exit(2);
}
const readJSON = (name) => JSON.parse(fs.readFileSync(path.join(dir, name), "utf8"));
const reference = new Tokenizer(readJSON("tokenizer.json"), readJSON("tokenizer_config.json"));

// The prompt: a chat turn with special tokens, about 30 tokens.
const prompt = "<|im_start|>user\nWhat is 17 × 23? Réponds en français 🙂<|im_end|>\n<|im_start|>assistant\n";
const plain = [
    "Hello world",
    " leading space, trailing space ",
    "I'm sure they'll say we've done it, didn't we?",
    "Numbers: 0 7 42 1234567890 3.14159 -2.5e-10 1,000,000",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\n\tx = {'a': [1, 2, 3]}",
    "Unicode: café naïve Ελληνικά русский 日本語 한국어 עברית العربية",
    "Emoji 😀👍🏽 and ZWJ 👨‍👩‍👧 and flags 🇫🇷",
    "   multiple   spaces\n\n\nnewlines\r\n crlf\t\ttabs",
    "ÀÉÎÕÜ ß ﬁ ℌ 简体中文",
    "",
];
// llama.cpp does not apply tokenizer.json's NFC normalizer, so decomposed
// input tokenizes differently; reported, not counted.
const knownDifferent = ["e\u0301 (a combining accent)"];

const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
let failures = 0;
const check = (text, special) => {
    const want = Array.from(reference.encode(text, {add_special_tokens: false}).ids);
    const got = Array.from(model.tokenize(text, special));
    const same = want.length === got.length && want.every((id, i) => id === got[i]);
    if (!same) {
        failures++;
        console.error(`tokenization differs for ${JSON.stringify(text)}:\n  llama.cpp ${JSON.stringify(got)}\n  reference ${JSON.stringify(want)}`);
    }
    return want;
};
for (const text of plain) check(text, false);
for (const text of knownDifferent) {
    const want = Array.from(reference.encode(text, {add_special_tokens: false}).ids);
    const got = Array.from(model.tokenize(text, false));
    const same = want.length === got.length && want.every((id, i) => id === got[i]);
    console.log(`${JSON.stringify(text)}: ${same ? "same" : "differs (no NFC in llama.cpp)"}: llama.cpp ${JSON.stringify(got)}, reference ${JSON.stringify(want)}`);
}
const ids = check(prompt, true);
fs.writeFileSync(idsOut, ids.join(","));
console.log(`${modelPath}: ${plain.length + 1} strings tokenized as the reference tokenizer does${failures ? ` except ${failures}` : ""}; prompt of ${ids.length} tokens`);
await model.dispose();
process.exit(failures ? 1 : 0);
