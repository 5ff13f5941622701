// Types of scripts/lib/reliability.mjs, for the tests that drive it (tests/reliability/).
export interface Template {
  path: string;
  wal: boolean;
  learnings: number;
  beforeHash: string;
  afterHash: string;
  beforeSchema: string;
  afterSchema: string;
  tables: string[];
}
export interface BackupCheck {
  name: string;
  kind: string;
  quickCheck: string;
  matchesSource: boolean;
  /** The `<backup>.sha256` beside it: holds its SHA-256 (`matches`), another line (`differs`), or is not there. */
  checksum: 'matches' | 'differs' | 'absent';
}
export interface DatabaseCheck {
  dbPath: string;
  integrity: string;
  state: 'before' | 'after' | 'neither';
  learnings: number;
  lostLearnings: number;
  strayTables: string[];
  backups: BackupCheck[];
  badBackups: number;
  partials: { name: string; looksLikeBackup: boolean }[];
  expectedState?: string;
  appliedTwice?: number;
  finishedByEarlierAttempt?: number;
}
export interface Summary {
  databasesChecked: number;
  corrupt: number;
  neitherState: number;
  wrongState: number;
  lostLearnings: number;
  strayTables: number;
  appliedTwice: number;
  finishedByEarlierAttempt: number;
  backups: number;
  badBackups: number;
  partialFiles: number;
  partialsNamedLikeBackups: number;
}
export interface JobRecord {
  id: string;
  name: string;
  dbPath: string;
  state: string;
  status: string | null;
  backupPath: string | null;
  failedReason: string | null;
  attemptsMade: number;
  stalledCounter: number;
  finishedOn: number;
}
export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}
export interface CliProcess {
  pid: number;
  lines: Record<string, unknown>[];
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: string | null }>;
  alive(): boolean;
  kill9(): Promise<{ code: number | null; signal: string | null }>;
  stop(): Promise<{ code: number | null; signal: string | null }>;
  waitForLine(
    predicate: (line: Record<string, unknown>) => boolean,
    what: string,
    options?: { timeoutMs?: number },
  ): Promise<Record<string, unknown>>;
}

export const REPO: string;
export const CLI: string;
export const BACKUP_NAME: RegExp;
export function tempRoot(prefix?: string): string;
export function stopAll(): Promise<void>;
export function spawnCli(args: string[], options?: { env?: NodeJS.ProcessEnv; cwd?: string }): CliProcess;
export function runCli(
  args: string[],
  options?: { env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<{
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  lines: Record<string, unknown>[];
}>;
export function startWorker(options: {
  redisUrl: string;
  queueName: string;
  roots: string[];
  stallTimeoutMs?: number;
  args?: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<CliProcess>;
export function startRedisServer(options?: {
  password?: string;
  persistent?: boolean;
  port?: number;
}): Promise<RedisServer>;
export function makeTemplate(
  dir: string,
  options: { learnings: number; wal?: boolean; seed?: number },
): Template;
export function cloneTemplate(template: Template, dbPath: string): string;
export function stateHash(dbPath: string): string;
export function checkDatabase(dbPath: string, template: Template): DatabaseCheck;
export function summarize(checks: DatabaseCheck[]): Summary;
export function snapshotDir(dir: string): Record<string, string>;

export function crashWorkers(options: {
  redisUrl: string;
  root: string;
  templates: Template[];
  databases: number;
  rounds: number;
  kills: number;
  sameJobKills?: number;
  maxDelayMs?: number;
  stallTimeoutMs?: number;
  seed?: number;
  timeoutMs?: number;
  log?: (line: string) => void;
}): Promise<{
  jobs: number;
  upJobs: number;
  downJobs: number;
  completed: number;
  failed: JobRecord[];
  kills: { jobId: string; afterStep: string; delayMs: number; lastLoggedStep?: string }[];
  restarts: number;
  mostKillsOfOneJob: number;
  repeatedJob?: JobRecord;
  maxStalledCounter: number;
  databases: DatabaseCheck[];
  summary: Summary;
}>;
export function contendWorkers(options: {
  redisUrl: string;
  root: string;
  template: Template;
  workers: number;
  databases: number;
  copies?: number;
  timeoutMs?: number;
}): Promise<{
  workers: number;
  jobs: number;
  completed: number;
  failed: JobRecord[];
  jobsPerWorker: number[];
  lockHolds: number;
  overlaps: number;
  databases: (DatabaseCheck & {
    applied: number;
    rolledBack: number;
    backupsAfterUp: number;
    rollbackBackups: number;
  })[];
  summary: Summary;
}>;
export function writerDuringMigration(options: {
  redisUrl: string;
  root: string;
  template: Template;
  jobs?: number;
  busyTimeoutMs?: number;
  holdMs?: number;
  /** After the first jobs, a reader holds its snapshot this long while `readerJobs` more jobs start. Default: 0. */
  readerHoldMs?: number;
  readerJobs?: number;
  timeoutMs?: number;
}): Promise<{
  mode: string;
  jobs: number;
  readerHoldMs: number;
  /** Backups the worker wrote, by method (`copy`, `copy-wal`, `serialize`). */
  backupMethods: Record<string, number>;
  /** Backups beside the database, and those failing quick_check or holding neither the 005 nor the 006 schema. */
  backups: number;
  badBackups: number;
  completed: number;
  /** Jobs that changed the database (`applied` or `rolled-back`); a retried job may find nothing left to do. */
  changes: number;
  /** Backups a job reported that are not beside the database. */
  missingBackups: number;
  failed: JobRecord[];
  retriedJobs: number;
  lockedRetries: number;
  writerCommitted: number;
  writerBusy: number;
  writerErrors: string;
  lostWrites: number;
  unexpectedRows: number;
  integrity: string;
  state: string;
  expectedState?: string;
}>;
export function killDuringBackup(options: {
  root: string;
  template: Template;
  attempts?: number;
  maxDelayMs?: number;
  seed?: number;
}): Promise<{
  runs: {
    delayMs: number;
    killed: boolean;
    stateAfterKill: string;
    finalNamedBackups: number;
    badBackups: number;
    partialsLeft: number;
    partialsNamedLikeBackups: number;
  }[];
  /** Kills that landed before the commit (the database found before `up`). */
  kills: number;
  finalExit: number | null;
  finalStatus: string;
  final: DatabaseCheck;
}>;
export function diskNearlyFull(options: { root: string; learnings?: number }): Promise<{
  method: string;
  mountError: string | null;
  code: string | undefined;
  exit: number | null;
  message: string | undefined;
  unchanged: boolean;
  files: Record<string, string>;
  /** `up --dry-run` first, on the same disk. */
  dryRun: { code: string | undefined; exit: number | null; message: string | undefined; unchanged: boolean };
}>;
export function killProducerMidEnqueue(options: {
  redisUrl: string;
  root: string;
  template: Template;
  databases?: number;
}): Promise<{
  databases: number;
  jobsAtKill: number;
  killedMidway: boolean;
  secondRunExit: number | null;
  jobsAfterRerun: number;
  completed: number;
  failed: JobRecord[];
  malformedJobs: number;
  databasesWithOneBackup: number;
  summary: Summary;
}>;
export function redisRestartMidRollout(options: {
  root: string;
  template: Template;
  databases?: number;
  workers?: number;
  timeoutMs?: number;
}): Promise<{
  databases: number;
  rolloutId: string;
  completedAtRestart: number;
  rolloutState: string;
  databasesWithOneBackup: number;
  summary: Summary;
}>;
export function redisUnreachable(options: {
  root: string;
  template: Template;
  waitBeforeStartMs?: number;
}): Promise<{
  producerExit: number | null;
  producerCode: string | undefined;
  producerMessage: string | undefined;
  producerMs: number;
  workerAliveWithoutRedis: boolean;
  workerRedisErrorsLogged: number;
  jobAfterRedisStarted: string | undefined;
  final: DatabaseCheck;
}>;
