/** One fresh process of bench/determinism.ts: measures one workload cold and warm, prints JSON. */
import { Session } from '../src/index.ts';
import { workloadNamed } from './workloads.ts';

const [name = '', interval = '1'] = process.argv.slice(2);
const workload = workloadNamed(name);
const session = new Session({ samplingInterval: Number(interval) });
const cold = await Promise.resolve(session.measure('cold', () => workload.run()));
const warm = await Promise.resolve(session.measure('warm', () => workload.run(), { iterations: 5, warmup: 30 }));
process.stdout.write(
  `${JSON.stringify({ cold: { bytes: cold.bytes, count: cold.count }, warm: { bytes: warm.bytes, count: warm.count } })}\n`,
);
