/** Queue and job names, kept apart from the zod schema so that commands can name them without loading zod. */

/** Queue name, from `GAO_MIGRATE_QUEUE`. Default: `migrations`. */
export const DEFAULT_QUEUE_NAME = 'migrations';

export function queueNameFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.GAO_MIGRATE_QUEUE?.trim() || DEFAULT_QUEUE_NAME;
}

/** Why BullMQ would refuse `name` for a queue (it builds Redis keys such as `bull:<name>:wait`), or null. */
export function queueNameProblem(name: string): string | null {
  if (name === '') return 'it is empty';
  if (name.includes(':')) return 'it contains ":", which BullMQ keeps for its Redis keys';
  return null;
}
