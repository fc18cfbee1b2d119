// Runs a GGUF through llama.cpp and compares, at every position of the
// reference prompt, llama.cpp's next-token distribution with the softmax of
// the reference logits computed by transformers.
//
// usage: node compare.mjs MODEL.gguf REFERENCE.json.gz [--max-dlogp X] [--max-kl K]
//                         [--top1-margin M] [--json]
// --top1-margin M requires the same top token at every position whose
// reference top-2 logit margin is at least M (0: every position); a
// quantized model may legitimately swap near-tied tokens.
// Exit status: 0 within bounds, 1 outside them, 2 usage.
import fs from "node:fs";
import zlib from "node:zlib";
import {getLlama} from "node-llama-cpp";

function parseArgs(argv) {
    const opts = {maxDlogp: Infinity, maxKL: Infinity, top1Margin: Infinity, json: false, files: []};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--max-dlogp") opts.maxDlogp = Number(argv[++i]);
        else if (a === "--max-kl") opts.maxKL = Number(argv[++i]);
        else if (a === "--top1-margin") opts.top1Margin = Number(argv[++i]);
        else if (a === "--json") opts.json = true;
        else opts.files.push(a);
    }
    if (opts.files.length !== 2) {
        console.error("usage: node compare.mjs MODEL.gguf REFERENCE.json.gz [--max-dlogp X] [--max-kl K] [--top1-margin M] [--json]");
        process.exit(2);
    }
    return opts;
}

function logSoftmax(logits) {
    let m = -Infinity;
    for (const x of logits) m = Math.max(m, x);
    let s = 0;
    for (const x of logits) s += Math.exp(x - m);
    const lse = m + Math.log(s);
    return logits.map((x) => x - lse);
}

function argmax(a) {
    let best = 0;
    for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
    return best;
}

const opts = parseArgs(process.argv.slice(2));
const [modelPath, refPath] = opts.files;
const ref = JSON.parse(zlib.gunzipSync(fs.readFileSync(refPath)).toString("utf8"));
const tokens = ref.input_ids;

const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({
    contextSize: Math.max(64, tokens.length + 2),
    batchSize: Math.max(64, tokens.length + 2),
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
});
const sequence = context.getSequence();
const input = tokens.map((t) => [t, {generateNext: {probabilities: true}}]);
const outputs = await sequence.controlledEvaluate(input);

const vocab = ref.logits[0].length;
let maxDlogp = 0, worstPos = -1, top1Agree = 0, sumKL = 0;
const top1Misses = [];
const positions = [];
for (let pos = 0; pos < tokens.length; pos++) {
    const probs = outputs[pos]?.next?.probabilities;
    if (!probs) throw new Error(`llama.cpp returned no distribution at position ${pos}`);
    const refLogp = logSoftmax(ref.logits[pos]);
    const got = new Float64Array(vocab);
    for (const [tok, p] of probs) got[tok] = p;
    let posMax = 0, kl = 0;
    for (let t = 0; t < vocab; t++) {
        const lp = Math.log(Math.max(got[t], 1e-45));
        posMax = Math.max(posMax, Math.abs(lp - refLogp[t]));
        const pr = Math.exp(refLogp[t]);
        if (pr > 0) kl += pr * (refLogp[t] - lp);
    }
    const same = argmax(got) === argmax(refLogp);
    const sorted = [...ref.logits[pos]].sort((a, b) => b - a);
    const margin = sorted[0] - sorted[1];
    if (same) top1Agree++;
    else if (margin >= opts.top1Margin) top1Misses.push(pos);
    sumKL += kl;
    if (posMax > maxDlogp) { maxDlogp = posMax; worstPos = pos; }
    positions.push({pos, max_abs_dlogp: posMax, kl, same_top1: same, ref_top2_margin: margin});
}
const result = {
    model: modelPath,
    positions: tokens.length,
    max_abs_dlogp: maxDlogp,
    worst_position: worstPos,
    mean_kl: sumKL / tokens.length,
    top1_agreement: top1Agree / tokens.length,
    top1_misses_above_margin: top1Misses,
};
if (opts.json) console.log(JSON.stringify({...result, per_position: positions}, null, 1));
else console.log(`${modelPath}: ${tokens.length} positions, max |Δ log p| = ${maxDlogp.toExponential(3)} (position ${worstPos}), mean KL = ${result.mean_kl.toExponential(3)}, top-1 agreement ${top1Agree}/${tokens.length}`);

await context.dispose();
await model.dispose();
const ok = maxDlogp <= opts.maxDlogp && result.mean_kl <= opts.maxKL && top1Misses.length === 0;
if (!ok) console.error(`outside bounds: max |Δ log p| ${maxDlogp} (limit ${opts.maxDlogp}), mean KL ${result.mean_kl} (limit ${opts.maxKL}), top-1 misses at positions [${top1Misses}] (margin ≥ ${opts.top1Margin})`);
process.exit(ok ? 0 : 1);
