# Generates tokenizer/testdata/spm-golden.json with sentencepiece (Debian python3-sentencepiece 0.1.97).
import json, random, sys
import sentencepiece as spm
rng = random.Random(20240601)
pools = [
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "     ", "\t\n\r",
    ".,;:!?'\"()[]{}<>/\\|-_=+*&^%$#@~`", "éèêëàâäôöûüçñßÅÆØœ", "αβγδεζηθλμπσω", "абвгдежзийклмнопрст",
    "中文日本語한국어漢字かなカナ", "🤖🚀😀👍🏽❤️‍🔥", "∑∫√∞≈≠≤≥", "\u00a0\u2003\u200b\u3000", "▁", "\x00\x01\x7f",
]
words = ["the", "router", "expert", "Mixtral", "quantize", "<s>", "</s>", "<unk>", "<0x41>", "[PAD5]", "[INST]", "▁▁", "  ", "hello", "world", "don't", "l'amour", "GGML_TYPE_Q4_K", "ünïcödé", "naïve", "co-operate", "https://example.com/a?b=c", "    return x", "\n\n"]
def rand_text():
    k = rng.randrange(6)
    if k == 0:
        return "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randrange(1, 30)))
    if k == 1:
        return " ".join(rng.choice(words) for _ in range(rng.randrange(1, 12)))
    if k == 2:
        return "".join(rng.choice(words) + rng.choice(["", " ", "  ", "\n", "\t"]) for _ in range(rng.randrange(1, 10)))
    if k == 3:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(1, 20)))
    if k == 4:
        return "".join(chr(rng.choice([rng.randrange(0x20, 0x7f), rng.randrange(0x80, 0x800), rng.randrange(0x1F300, 0x1FAFF)])) for _ in range(rng.randrange(1, 25)))
    return rng.choice(words) * rng.randrange(1, 6)
out = {"generator": "sentencepiece 0.1.97 (Debian python3-sentencepiece), testdata/gen_spm_golden.py, seed 20240601", "models": {}}
texts = ["", " ", "  ", "a", "\n", "▁", "▁▁▁", " ▁ ", "<s>", "<0x41>", "[PAD1]"] + [rand_text() for _ in range(400)]
for name, path in [("mixtral", sys.argv[1] + "/mixtral-8x7b-meta/tokenizer.model"), ("tiny", sys.argv[1] + "/tiny-mixtral/tokenizer.model")]:
    sp = spm.SentencePieceProcessor(model_file=path)
    out["models"][name] = [{"text": t, "ids": sp.encode(t)} for t in texts]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write('{"generator": %s,\n "models": {\n' % json.dumps(out["generator"]))
    for i, (name, cases) in enumerate(out["models"].items()):
        f.write('  %s: [\n' % json.dumps(name))
        f.write(",\n".join("   " + json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n  ]%s\n" % ("," if i + 1 < len(out["models"]) else ""))
    f.write(" }\n}\n")
