// Runs a GGUF through llama.cpp and compares, at every position of the
// reference prompt, llama.cpp's next-token distribution with the softmax of
// the reference logits computed by transformers.
//
// usage: node compare.mjs MODEL.gguf REFERENCE.json.gz [--max-dlogp X] [--min-top1 Y] [--json]
import fs from "node:fs";
import zlib from "node:zlib";
import {getLlama} from "node-llama-cpp";

function parseArgs(argv) {
    const opts = {maxDlogp: Infinity, minTop1: 0, json: false, files: []};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--max-dlogp") opts.maxDlogp = Number(argv[++i]);
        else if (a === "--min-top1") opts.minTop1 = Number(argv[++i]);
        else if (a === "--json") opts.json = true;
        else opts.files.push(a);
    }
    if (opts.files.length !== 2) {
        console.error("usage: node compare.mjs MODEL.gguf REFERENCE.json.gz [--max-dlogp X] [--min-top1 Y] [--json]");
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
    if (same) top1Agree++;
    sumKL += kl;
    if (posMax > maxDlogp) { maxDlogp = posMax; worstPos = pos; }
    positions.push({pos, max_abs_dlogp: posMax, kl, same_top1: same});
}
const result = {
    model: modelPath,
    positions: tokens.length,
    max_abs_dlogp: maxDlogp,
    worst_position: worstPos,
    mean_kl: sumKL / tokens.length,
    top1_agreement: top1Agree / tokens.length,
};
if (opts.json) console.log(JSON.stringify({...result, per_position: positions}, null, 1));
else console.log(`${modelPath}: ${tokens.length} positions, max |Δ log p| = ${maxDlogp.toExponential(3)} (position ${worstPos}), mean KL = ${result.mean_kl.toExponential(3)}, top-1 agreement ${top1Agree}/${tokens.length}`);

await context.dispose();
await model.dispose();
const ok = maxDlogp <= opts.maxDlogp && result.top1_agreement >= opts.minTop1;
process.exit(ok ? 0 : 1);
