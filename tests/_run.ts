/**
 * Runs one of the repository's scripts as a child process, as a user would,
 * and collects its exit code, stdout and stderr lines. The child is killed
 * (and the test fails) if it runs longer than its deadline.
 */
import assert from "node:assert/strict";

const ROOT = `${import.meta.dirname}/..`;

/** What a script did. */
export interface ScriptResult {
  code: number;
  stdout: string;
  /** stderr, split in lines, without the trailing empty one. */
  stderr: string[];
}

/**
 * Runs `deno run <permissions> <script> ...args` in `cwd` (default: the
 * repository), with `-A` unless `permissions` are given, and `env` added to
 * `NO_COLOR=1`.
 */
export async function runScript(
  script: string,
  args: string[],
  options: {
    cwd?: string;
    deadlineMs?: number;
    permissions?: string[];
    env?: Record<string, string>;
  } = {},
): Promise<ScriptResult> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.deadlineMs ?? 30_000);
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...(options.permissions ?? ["-A"]), "--no-prompt", `${ROOT}/${script}`]
        .concat(args),
      cwd: options.cwd ?? ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...options.env },
      signal: abort.signal,
    }).output();
    const decoder = new TextDecoder();
    const stderr = decoder.decode(output.stderr).split("\n");
    if (stderr.at(-1) === "") stderr.pop();
    return { code: output.code, stdout: decoder.decode(output.stdout), stderr };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `script` once per case and asserts the house rule for bad usage: exit
 * 2, nothing on stdout, and on stderr exactly the case's line and
 * `TOOL: run "deno task TOOL --help" for usage` (cli.ts's `reportUsageError`).
 */
export async function assertUsageFailures(
  script: string,
  tool: string,
  cases: readonly [args: string[], line: string][],
): Promise<void> {
  for (const [args, line] of cases) {
    const result = await runScript(script, args);
    assert.deepEqual(
      [result.code, result.stderr, result.stdout],
      [2, [line, `${tool}: run "deno task ${tool} --help" for usage`], ""],
      args.join(" "),
    );
  }
}
