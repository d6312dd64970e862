#!/usr/bin/env node
// ONNX Runtime (onnxruntime-node, CPU EP) timing of one model and batch.
// node ort_bench.js MODELDIR MODEL BATCH SECONDS THREADS -> one JSON line
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const [dir, name, B, secs, threads] = [process.argv[2], process.argv[3], +process.argv[4], +process.argv[5], +process.argv[6]];

function npy(file) {
  const b = fs.readFileSync(file);
  const h = b.readUInt16LE(8);
  const d = b.subarray(10 + h);
  return new Float32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.length));
}
const ms = () => Number(process.hrtime.bigint()) / 1e6;
(async () => {
  const s = await ort.InferenceSession.create(path.join(dir, name + '.onnx'),
    { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const x1 = npy(path.join(dir, name + '_x.npy')), ref = npy(path.join(dir, name + '_ref.npy'));
  const x = new Float32Array(B * x1.length);
  for (let i = 0; i < B; i++) x.set(x1, i * x1.length);
  const feeds = { [s.inputNames[0]]: new ort.Tensor('float32', x, [B, 3, 224, 224]) };
  const y = (await s.run(feeds))[s.outputNames[0]].data;
  let err = 0;
  for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(y[i] - ref[i]));
  let t = ms(), n = 0;
  while (n < 2 || ms() - t < 1000) { await s.run(feeds); n++; }
  const reps = Math.max(5, Math.ceil(secs * 1000 / ((ms() - t) / n)));
  const times = [];
  for (let r = 0; r < reps; r++) { const a = ms(); await s.run(feeds); times.push(ms() - a); }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ engine: 'ort', mode: 'f32', model: name, batch: B, threads,
    median_ms: times[Math.floor(times.length / 2)], reps, max_err: err }));
})().catch(e => { console.error(e); process.exit(1); });
