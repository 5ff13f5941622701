export {
  assertRedisNotRefusing,
  assertRedisReachable,
  RedisRefusedError,
  RedisUnavailableError,
} from '../queue/redis-check.js';
export { expandGlob, globToRegExp } from './glob.js';
export {
  createProducer,
  type EnqueuedJob,
  type EnqueueOptions,
  isFinished,
  type JobOutcome,
  type JobState,
  type Producer,
  type ProducerOptions,
  type WaitOptions,
} from './producer.js';
