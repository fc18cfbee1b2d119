// Times llama.cpp's prefill of a prompt of seeded random token ids (the
// same ids as scripts/prefillbench) on the CPU and prints tokens/s and
// tokens per CPU-second of the process (best of the runs by wall time),
// twice: with the logits of every token, as llama-imatrix and
// llama-perplexity ask for them and as mxq computes them, and with the last
// token's only, as a chat prompt asks. The second does less work: llama.cpp
// then runs the last layer's feed-forward block (here the MoE) for the last
// token alone, which on a one-layer file skips nearly all of it.
//
// usage: node prefill.mjs MODEL.gguf [TOKENS] [THREADS] [RUNS]
import {getLlama} from "node-llama-cpp";

const [modelPath, nTok = "512", nThreads = "2", nRuns = "3"] = process.argv.slice(2);
if (!modelPath) {
    console.error("usage: node prefill.mjs MODEL.gguf [TOKENS] [THREADS] [RUNS]");
    process.exit(2);
}
const n = Number(nTok), threads = Number(nThreads), runs = Number(nRuns);

const llama = await getLlama({gpu: false, build: "never", logLevel: "error", maxThreads: threads});
const model = await llama.loadModel({modelPath});
const vocab = model.tokens.nTokens ?? model.fileInsights?.vocabularySize;
const ids = [];
let s = 12345;
for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    ids.push(3 + ((s >>> 8) % (vocab - 3)));
}
for (const outputs of ["every token's", "last token's"]) {
    let best = Infinity, bestCPU = 0;
    for (let r = 0; r < runs; r++) {
        const context = await model.createContext({contextSize: n + 16, batchSize: n, threads, flashAttention: false});
        const seq = context.getSequence();
        const input = ids.map((t, i) => [t, outputs === "every token's" || i === n - 1 ? {generateNext: {token: true}} : {}]);
        const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
        await seq.controlledEvaluate(input);
        const el = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = process.cpuUsage(c0);
        if (el < best) {
            best = el;
            bestCPU = (cpu.user + cpu.system) / 1e6;
        }
        await context.dispose();
    }
    console.log(`llama.cpp ${modelPath}, ${outputs} logits: ${n} tokens, ${threads} threads: ${(n / best).toFixed(1)} tokens/s (${best.toFixed(2)} s; ${bestCPU.toFixed(2)} s of CPU: ${(n / bestCPU).toFixed(1)} tokens per CPU-second), best of ${runs}`);
}
