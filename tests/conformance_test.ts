/**
 * The conformance checker against socket-tcp's own client and server (every
 * case passes) and against mutants (tests/fixtures/mutants/: one defect
 * each), which must be caught by the cases that should fail, with a reason
 * naming the defect, and pass the others. Plus the checker's bad usage.
 */
import assert from "node:assert/strict";
import { FREE_PORTS, freePort } from "../link.ts";
import {
  type CaseResult,
  CASES,
  checkWire,
  describeDamage,
  judge,
  pool,
  type Role,
  summaryLine,
} from "../conformance.ts";
import { concatBytes } from "../segment.ts";
import { runScript } from "./_run.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MUTANTS = `${ROOT}tests/fixtures/mutants`;
const DENO = Deno.execPath();
const canRun = (await Deno.permissions.query({ name: "run" })).state === "granted";

/** The verdicts, and the wire of every case not passed (to diagnose a failure). */
function describe(results: CaseResult[]): string {
  return results.map((r) =>
    `${r.id}: ${r.verdict}: ${r.reason}` + (r.verdict === "pass" ? "" : "\n" +
      (r.wire ?? []).map((w) =>
        `  #${w.id} ${w.time.toFixed(1)} ${w.direction} ${w.client} ${w.server} ` +
        `${w.flags} seq=${w.seq} len=${w.len} ${w.fate}`
      ).join("\n"))
  ).join("\n");
}

Deno.test({
  name: "socket-tcp's own servidor.ts and cliente.ts pass every case",
  ignore: !canRun,
  async fn() {
    const [server, client] = await Promise.all([
      judge({
        role: "server",
        template: `${DENO} run --allow-net ${ROOT}servidor.ts {host} {port} --once --quiet`,
        cwd: ROOT,
        cases: CASES,
        parallel: 4,
        bound: 30_000,
      }),
      judge({
        role: "client",
        template: `${DENO} run --allow-net ${ROOT}cliente.ts {host} {port} --quiet`,
        cwd: ROOT,
        cases: CASES,
        parallel: 4,
        bound: 30_000,
      }),
    ]);
    for (const results of [server, client]) {
      assert.equal(results.length, CASES.length);
      assert.deepEqual(
        results.filter((r) => r.verdict !== "pass").map((r) => r.id),
        [],
        describe(results),
      );
      for (const r of results) {
        assert.ok(r.datagrams >= 8, `${r.id}: ${r.datagrams} datagrams`);
        assert.ok(r.rules.every((rule) => rule.ok), describe(results));
      }
    }
  },
});

/** A mutant, the role it plays, and what the checker must say of each case run. */
interface Expectation {
  mutant: string;
  role: Role;
  /** Case id -> verdicts allowed and a pattern the reason must match; absent cases must pass. */
  caught: Record<string, { verdicts: string[]; reason: RegExp }>;
  /** Cases that must pass. */
  passes: string[];
}

const NOT_PASS = ["deviation", "fail", "hang", "crash"];

const EXPECTATIONS: Expectation[] = [
  {
    mutant: "no_handshake_timeout",
    role: "client",
    caught: {
      "lost-syn": {
        verdicts: ["hang"],
        reason: /after the SYN seq=\d+ was lost, the client did not send it again in \d+ s/,
      },
    },
    passes: ["ascii"],
  },
  {
    mutant: "no_handshake_timeout",
    role: "server",
    caught: {
      "lost-synack": {
        verdicts: ["hang"],
        reason: /after the SYN\+ACK seq=\d+ was lost, the server did not send it again/,
      },
    },
    passes: ["ascii"],
  },
  {
    mutant: "fin_once",
    role: "client",
    caught: {
      "lost-fin": {
        verdicts: ["hang", "fail"],
        reason: /after the FIN seq=\d+ was lost, the client did not send it again.*step 8/,
      },
    },
    passes: ["ascii", "lost-finack"],
  },
  {
    mutant: "utf8_segments",
    role: "client",
    caught: {
      utf8: { verdicts: ["crash"], reason: /crashed: "UnicodeDecodeError/ },
      binary: { verdicts: ["crash"], reason: /crashed: "UnicodeDecodeError/ },
    },
    passes: ["ascii"],
  },
  {
    mutant: "utf8_segments",
    role: "server",
    caught: {
      utf8: { verdicts: ["crash"], reason: /crashed: "UnicodeDecodeError/ },
    },
    passes: ["two-segments"],
  },
  {
    mutant: "synack_own_number",
    role: "server",
    caught: {
      ascii: {
        verdicts: ["crash", "hang", "fail"],
        reason:
          /answered SYN seq=(\d+) with SYN\+ACK seq=\d+; the assignment expects seq=\d+ \(x\+1\)/,
      },
    },
    passes: [],
  },
  {
    mutant: "data_by_end",
    role: "client",
    caught: {
      ascii: { verdicts: NOT_PASS, reason: /it is numbered by its end/ },
    },
    passes: [],
  },
  {
    mutant: "zero_padded_seq",
    role: "client",
    caught: {
      ascii: {
        verdicts: ["deviation"],
        // 8 digits: the ISN is 0..100 (a run drew 100: "00000100").
        reason: /zero-pads SEQ \("1\|\|\|0\|\|\|0\|\|\|0\d{7}\|\|\|"\)/,
      },
    },
    passes: [],
  },
  {
    mutant: "chars_not_bytes",
    role: "client",
    caught: {
      utf8: {
        verdicts: ["crash", "fail", "hang"],
        reason: /the file's length in bytes, "120"|carries \d+ bytes; the assignment allows 16/,
      },
    },
    passes: ["ascii"],
  },
  {
    mutant: "chars_not_bytes",
    role: "server",
    caught: {
      utf8: {
        verdicts: ["crash", "fail", "hang"],
        reason: /with ACK seq=\d+; the assignment expects seq=\d+ \(s\+n, n in bytes\)/,
      },
    },
    passes: ["ascii"],
  },
  {
    mutant: "ack_storm",
    role: "client",
    caught: {
      "duplicate-ack": {
        verdicts: ["deviation"],
        reason: /the client sent \d{3,}[\d,]* datagrams for a transfer that needs 15/,
      },
    },
    // Not even ascii: on a loaded machine a spurious timeout duplicates a segment, and it storms.
    passes: [],
  },
  {
    mutant: "isn_out_of_range",
    role: "client",
    caught: { ascii: { verdicts: ["deviation"], reason: /SYN has seq=5000.*0\.\.100/ } },
    passes: [],
  },
  {
    mutant: "synack_listening_port",
    role: "server",
    caught: { ascii: { verdicts: ["deviation"], reason: /from the listening port/ } },
    passes: [],
  },
  {
    // lost-last-ack loses only the first of the 3 copies: only lost-last-acks catches it.
    mutant: "close_forever",
    role: "server",
    caught: {
      "lost-last-acks": {
        verdicts: ["hang"],
        reason:
          /^after FIN\+ACK seq=\d+, no last ACK arrived and the server was still waiting \d+ s later: the assignment gives up after 3 timeouts/,
      },
    },
    passes: ["lost-last-ack"],
  },
  {
    mutant: "close_forever",
    role: "client",
    caught: {
      "lost-finacks": {
        verdicts: ["hang"],
        reason:
          /^after FIN seq=\d+, no FIN\+ACK arrived and the client was still waiting \d+ s later: the assignment gives up after 3 timeouts/,
      },
    },
    passes: ["lost-finack"],
  },
  {
    // It exits with an error after 50 timeouts: the rule it broke comes first, then its exit.
    mutant: "no_data_resend",
    role: "client",
    caught: {
      "lost-length": {
        verdicts: ["fail"],
        reason:
          /^after the data segment seq=\d+ was lost, the client did not send it again in \d+ s: Stop & Wait resends it after a timeout; then the client exited with code 1 before the transfer ended: "no_data_resend: error: /,
      },
    },
    passes: ["ascii"],
  },
  {
    // It never acknowledges the length (it waits for x+3): named before its own exit.
    mutant: "length_x3",
    role: "server",
    caught: {
      "lost-length": {
        // It exits when the client gives up, or is still waiting then: either way the rule leads.
        verdicts: ["crash", "fail", "hang"],
        reason:
          /^the server never acknowledged the length segment DATA seq=\d+ \(x\+2, sent \d+ times\): the assignment expects ACK seq=\d+ \(s\+n, 3 bytes\); it sent no ACK after it .*; then the server /,
      },
    },
    passes: [],
  },
  {
    // It parses "|" between the fields: it finds no SYN, and answers nothing.
    mutant: "pipe_separator",
    role: "server",
    caught: {
      ascii: {
        verdicts: ["hang", "crash", "fail"],
        reason:
          /^the server answered none of the \d+ SYNs \(`1\|\|\|0\|\|\|0\|\|\|\d+\|\|\|`\): does it parse this header\?; then /,
      },
    },
    passes: [],
  },
  {
    mutant: "last_ack_once",
    role: "client",
    caught: { ascii: { verdicts: ["deviation"], reason: /last ACK once; step 8 asks for 3/ } },
    passes: [],
  },
];

Deno.test({
  name: "each mutant is caught by the cases it should fail, naming its defect, and passes others",
  ignore: !canRun,
  async fn() {
    const failures: string[] = [];
    // 6 cases at once, each bound at 8 s: a case that passes takes about
    // 1.3 s, and 9 at once bound at 4 s judged passing ones hangs beside a
    // CPU hog (the hang cases wait their whole bound either way).
    await pool(EXPECTATIONS, 3, async (expectation) => {
      const ids = [...Object.keys(expectation.caught), ...expectation.passes];
      const unknown = ids.filter((id) => !CASES.some((c) => c.id === id));
      if (unknown.length > 0) {
        failures.push(`${expectation.mutant} (${expectation.role}): no case ${unknown}`);
      }
      const results = await judge({
        role: expectation.role,
        template: `python3 ${expectation.mutant}.py ${expectation.role} {host} {port}`,
        cwd: MUTANTS,
        cases: CASES.filter((c) => ids.includes(c.id)),
        parallel: 2,
        bound: 8_000,
      });
      const name = `${expectation.mutant} (${expectation.role})`;
      for (const r of results) {
        const caught = expectation.caught[r.id];
        if (caught) {
          if (!caught.verdicts.includes(r.verdict) || !caught.reason.test(r.reason)) {
            failures.push(
              `${name} ${r.id}: expected ${caught.verdicts.join("|")} matching ` +
                `${caught.reason}, got ${r.verdict}: ${r.reason}`,
            );
          }
        } else if (r.verdict !== "pass") {
          failures.push(`${name} ${r.id}: expected pass, got ${r.verdict}: ${r.reason}`);
        }
      }
    });
    assert.deepEqual(failures, []);
  },
});

Deno.test({
  name: "the correct mutant (the fixture unchanged) passes the cases the mutants fail",
  ignore: !canRun,
  async fn() {
    const ids = ["utf8", "binary", "lost-syn", "lost-synack", "lost-fin", "duplicate-ack"]
      .concat(["lost-length", "lost-last-acks", "lost-finacks"]);
    assert.deepEqual(ids.filter((id) => !CASES.some((c) => c.id === id)), []);
    const results = await Promise.all((["client", "server"] as const).map((role) =>
      judge({
        role,
        template: `python3 correct.py ${role} {host} {port}`,
        cwd: MUTANTS,
        cases: CASES.filter((c) => ids.includes(c.id)),
        parallel: 3,
        bound: 10_000,
      })
    ));
    for (const r of results.flat()) assert.equal(r.verdict, "pass", `${r.id}: ${r.reason}`);
  },
});

/** Runs the checker's command line; its stderr as one string. */
/** The checker's command line, with -A unless `permissions`; stderr as one text. */
async function cli(
  args: string[],
  options: { permissions?: string[]; env?: Record<string, string> } = {},
) {
  const result = await runScript("conformance.ts", args, { deadlineMs: 60_000, ...options });
  return { ...result, stderr: result.stderr.join("\n") };
}

Deno.test({
  name: "the checker refuses bad usage in one line, exit 2",
  ignore: !canRun,
  async fn() {
    const cases: [string[], RegExp][] = [
      [[], /give one of --server TEMPLATE or --client TEMPLATE/],
      [["--server", "python3 s.py 8000"], /has no \{port\}/],
      [["--server", "x {port}", "--client", "y {port}"], /give one of/],
      [
        ["--server", "x {port}", "--cwd", "/nonexistent/dir"],
        /--cwd "\/nonexistent\/dir" is not a directory/,
      ],
      [["--server", "x {port}", "--cases", "ascii,bogus"], /unknown case "bogus"; see --list/],
      [["--server", "x {port}", "--bound=-1"], /--bound is "-1", expected a number > 0/],
      [["--server", "x {port}", "--bogus"], /bogus/],
      [["--server", "x {port}", "extra"], /unexpected argument "extra"/],
    ];
    await Promise.all(cases.map(async ([args, pattern]) => {
      const result = await cli(args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      const first = result.stderr.split("\n")[0];
      assert.match(first, /^conformance: /, args.join(" "));
      assert.match(first, pattern, args.join(" "));
    }));
  },
});

Deno.test({
  name: "the checker lists its cases, and says so when a command does not start or never listens",
  ignore: !canRun,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "conformance-out-" });
    const [list, missing, silent, exits, reported] = await Promise.all([
      cli(["--list"]),
      cli(["--server", "no-such-command-xyz {port}"]),
      cli(["--server", "sleep 20 # {port}", "--cases", "ascii", "--bound", "1"]),
      cli(["--server", "echo boom >&2; exit 3 # {port}", "--cases", "ascii", "--bound", "5"]),
      cli([
        "--client",
        "python3 fin_once.py client {host} {port}",
        "--cwd",
        MUTANTS,
        "--cases",
        "ascii,lost-fin",
        // 6 s: a correct transfer takes about 1.3 s (its close waits its timeouts),
        // more on a loaded machine; the case that hangs waits the whole bound.
        "--bound",
        "6",
        "--json",
        `${dir}/r.json`,
        "--markdown",
        `${dir}/r.md`,
      ]),
    ]);
    assert.equal(reported.code, 1, reported.stderr);
    assert.match(reported.stdout, /^case +verdict +time +datagrams +reason$/m);
    assert.match(reported.stdout, /\n1 passed, 1 failed\n$/);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/r.json`));
    assert.deepEqual(json.cases.map((c: { verdict: string }) => c.verdict), ["pass", "hang"]);
    const md = await Deno.readTextFile(`${dir}/r.md`);
    assert.ok(!md.includes("## ascii"), md);
    assert.match(md, /## lost-fin: hang[\s\S]*```mermaid\nsequenceDiagram\n/);
    assert.match(md, /C-xS: FIN seq=\d+\n {4}Note over C,S: perdido en el relay/);
    // How to replay the case by hand: the relay with its faults, between the client and a server.
    assert.match(
      md,
      /between your client and socket-tcp's \(or your own\) server:\n\n```sh\n.*relay\.ts --listen 9000 --target localhost:8000 --case lost-fin\n```/,
    );
    await Deno.remove(dir, { recursive: true });
    assert.equal(list.code, 0);
    const lines = list.stdout.trim().split("\n");
    assert.equal(lines.length, CASES.length);
    for (const id of ["ascii", "lost-handshake-ack", "delayed-segment", "loss-20"]) {
      assert.ok(lines.some((line) => line.startsWith(`${id} `)), id);
    }
    assert.equal(missing.code, 1, missing.stderr);
    assert.equal(
      missing.stderr.trim(),
      `conformance: cannot start "no-such-command-xyz": command not found`,
    );
    assert.equal(silent.code, 1);
    assert.match(silent.stdout, /ascii\s+hang .*did not listen on UDP port \d+ within 1 s/);
    assert.match(silent.stdout, /0 passed, 1 failed$/m);
    assert.equal(exits.code, 1);
    assert.match(
      exits.stdout,
      /ascii\s+fail .*exited with code 3 before listening on port \d+: "boom"/,
    );
  },
});

Deno.test({
  name: "--batch judges every submission, resumes, redoes with --force, and survives a hostile one",
  ignore: !canRun,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "conformance-batch-" });
    try {
      const scripts: Record<string, string> = {
        ana: 'exec python3 correct.py "$@"',
        beto: 'exec python3 fin_once.py "$@"',
        hostil: "sleep 100 & sleep 100",
      };
      for (const [name, script] of Object.entries(scripts)) {
        await Deno.mkdir(`${root}/${name}`);
        for await (const entry of Deno.readDir(MUTANTS)) {
          if (entry.name.endsWith(".py")) {
            await Deno.copyFile(`${MUTANTS}/${entry.name}`, `${root}/${name}/${entry.name}`);
          }
        }
        await Deno.copyFile(`${MUTANTS}/../socket_tcp.py`, `${root}/${name}/socket_tcp.py`);
        await Deno.writeTextFile(`${root}/${name}/run.sh`, script + "\n");
      }
      const args = [
        "--client",
        "sh run.sh client {host} {port}",
        "--batch",
        root,
        "--jobs",
        "3",
        "--cases",
        "ascii,lost-fin",
        // As above: room for a correct submission on a loaded machine (3 s once
        // judged a correct one a hang, beside two CPU hogs).
        "--bound",
        "6",
      ];
      const first = await cli(args);
      assert.equal(first.code, 1, first.stderr);
      const csv = await Deno.readTextFile(`${root}/conformance-summary.csv`);
      assert.deepEqual(csv.trim().split("\n"), [
        "submission,passed,failed,ascii,lost-fin",
        "ana,2,0,pass,pass",
        "beto,1,1,pass,hang",
        "hostil,0,2,hang,hang",
      ]);
      const md = await Deno.readTextFile(`${root}/conformance-summary.md`);
      assert.ok(md.includes("| beto | 1/2 | pass | hang |"), md);
      const report = JSON.parse(await Deno.readTextFile(`${root}/beto/conformance.json`));
      assert.deepEqual(
        [report.role, report.command, report.passed, report.failed, report.cases.length],
        ["client", "sh run.sh client {host} {port}", 1, 1, 2],
      );
      assert.deepEqual(Object.keys(report.cases[0]), [
        "id",
        "verdict",
        "reason",
        "seconds",
        "datagrams",
        "rules",
      ]);
      assert.equal(report.cases[1].id, "lost-fin");
      assert.match(
        report.cases[1].reason,
        /FIN seq=\d+ was lost, the client did not send it again/,
      );
      assert.match(await Deno.readTextFile(`${root}/beto/conformance.md`), /C-xS: FIN seq=\d+/);

      // Resumable: nothing is run again, unless --force.
      await Deno.writeTextFile(`${root}/beto/run.sh`, 'exec python3 correct.py "$@"\n');
      const again = await cli(args);
      assert.equal((again.stderr.match(/already judged/g) ?? []).length, 3, again.stderr);
      assert.equal(await Deno.readTextFile(`${root}/conformance-summary.csv`), csv);
      const forced = await cli([...args, "--force", "--cases", "lost-fin"]);
      assert.ok(!forced.stderr.includes("already judged"), forced.stderr);
      assert.match(
        await Deno.readTextFile(`${root}/conformance-summary.csv`),
        /^beto,1,0,pass$/m,
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "Ctrl+C stops the cases' processes and exits 130",
  ignore: !canRun,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "conformance-sigint-" });
    try {
      const child = spawnChecker("--server", "echo $$ > pid; sleep 30 # {port}", dir);
      // Bounded wait for the command under test to start.
      let pid = "";
      for (let i = 0; i < 500 && pid === ""; i++) {
        pid = await Deno.readTextFile(`${dir}/pid`).then((t) => t.trim(), () => "");
        if (pid === "") await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.notEqual(pid, "", "the command under test never started");
      child.kill("SIGINT");
      const output = await child.output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 130, stderr);
      assert.match(stderr, /conformance: interrupted after 0 of 1 case\(s\)/);
      const state = await Deno.readTextFile(`/proc/${pid}/stat`).then(
        (text) => text.split(") ")[1]?.[0],
        () => "gone",
      );
      assert.ok(state === "gone" || state === "Z", `the command under test is still ${state}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** The checker as a child process to signal: `template` in `role` on the case "ascii", in `dir`. */
function spawnChecker(role: "--server" | "--client", template: string, dir: string) {
  return new Deno.Command(DENO, {
    args: ["run", "-A", `${ROOT}conformance.ts`, role, template, "--cwd", dir]
      .concat(["--cases", "ascii", "--bound", "30"]),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Every process now: pid, parent pid and state, from `ps` (/proc needs --allow-all in Deno). */
async function processTable(): Promise<{ pid: number; ppid: number; state: string }[]> {
  const output = await new Deno.Command("ps", {
    args: ["-e", "-o", "pid=,ppid=,stat="],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(output.stdout).trim().split("\n").map((line) => {
    const [pid, ppid, state] = line.trim().split(/\s+/);
    return { pid: Number(pid), ppid: Number(ppid), state: state ?? "" };
  });
}

/** Every process that descends from `pid` now. */
async function descendants(pid: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const { pid: child, ppid } of await processTable()) {
    children.set(ppid, [...children.get(ppid) ?? [], child]);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = children.get(queue.shift()!) ?? [];
    found.push(...next);
    queue.push(...next);
  }
  return found;
}

/** Whether `pid` still runs (a zombie does not). */
async function running(pid: number): Promise<boolean> {
  const entry = (await processTable()).find((p) => p.pid === pid);
  return entry !== undefined && !entry.state.startsWith("Z") && !entry.state.startsWith("X");
}

Deno.test({
  name: "SIGTERM and SIGHUP stop the implementation and socket-tcp's own end, then the checker",
  ignore: !canRun || Deno.build.os !== "linux",
  async fn() {
    // allSettled: a failure of one must not end the test before the other cleaned up.
    const settled = await Promise.allSettled(
      (["SIGTERM", "SIGHUP"] as const).map(async (signal) => {
        const dir = await Deno.makeTempDir({ prefix: `conformance-${signal}-` });
        // Client role: socket-tcp's servidor.ts starts first, then the command under test.
        const child = spawnChecker("--client", "echo $$ > pid; exec sleep 30 # {port}", dir);
        const output = child.output();
        let started: number[] = [];
        try {
          let pid = 0;
          for (let i = 0; i < 1500 && pid === 0; i++) {
            pid = Number(await Deno.readTextFile(`${dir}/pid`).catch(() => "0")) || 0;
            if (pid === 0) await new Promise((resolve) => setTimeout(resolve, 10));
          }
          assert.notEqual(pid, 0, `${signal}: the command under test never started`);
          started = await descendants(child.pid);
          assert.ok(started.includes(pid), `${signal}: ${pid} is not among ${started}`);
          assert.ok(started.length >= 2, `${signal}: only ${started} started`);
          child.kill(signal);
          const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
          const { code, stderr } = await output.finally(() => clearTimeout(timer));
          const left = [];
          for (const p of started) if (await running(p)) left.push(p);
          assert.deepEqual(left, [], `${signal}: still running after the checker exited`);
          const text = new TextDecoder().decode(stderr);
          assert.equal(code, signal === "SIGTERM" ? 143 : 129, `${signal}: ${text}`);
          assert.match(
            text,
            new RegExp(`^conformance: stopped by ${signal} after 0 of 1 case\\(s\\)$`, "m"),
          );
        } finally {
          // Whatever failed above, nothing of this test keeps running.
          try {
            child.kill("SIGKILL");
          } catch {
            // already exited
          }
          await output;
          for (const p of started) {
            try {
              if (await running(p)) Deno.kill(p, "SIGKILL");
            } catch {
              // already gone
            }
          }
          await Deno.remove(dir, { recursive: true });
        }
      }),
    );
    for (const outcome of settled) if (outcome.status === "rejected") throw outcome.reason;
  },
});

Deno.test({
  name:
    "a command under test that fails at once is judged at once, with its exit code and its words",
  ignore: !canRun,
  async fn() {
    const exits = `echo "python3: can't open file 'nonexist.py'" >&2; exit 2 # {host} {port}`;
    // Binds the port (so the checker sees it listen and starts its client), then gives up.
    const bindsThenExits = `python3 -c 'import socket, sys, time; ` +
      `s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", {port})); ` +
      `time.sleep(1); print("gave up after binding", file=sys.stderr); sys.exit(2)'`;
    const run = (role: Role, template: string) =>
      judge({
        role,
        template,
        cwd: ROOT,
        cases: CASES.filter((c) => c.id === "ascii"),
        bound: 30_000,
      }).then(([result]) => result);
    const [client, server, bound, quits] = await Promise.all([
      run("client", exits),
      run("server", exits),
      run("server", bindsThenExits),
      // Exits with success without sending a thing: socket-tcp's server gets 8 s, not the bound.
      run("client", "exit 0 # {host} {port}"),
    ]);
    const quote = `"python3: can't open file 'nonexist.py'"`;
    assert.deepEqual(
      [client.verdict, client.reason],
      ["fail", `the client exited with code 2 before the transfer ended: ${quote}`],
    );
    assert.equal(server.verdict, "fail");
    // "before listening" where the checker can read /proc/net/udp (Deno: --allow-all).
    assert.match(
      server.reason,
      /^the server exited with code 2 (before listening on port \d+|within 0\.5 s, before socket-tcp's client started \(port \d+\)): "/,
    );
    assert.ok(server.reason.endsWith(`: ${quote}`), server.reason);
    assert.deepEqual(
      [bound.verdict, bound.reason],
      ["fail", `the server exited with code 2 before the transfer ended: "gave up after binding"`],
    );
    // Not at the bound (30 s): socket-tcp's end is stopped as soon as the command fails.
    for (const r of [client, server, bound]) assert.ok(r.seconds < 10, `${r.seconds} s`);
    assert.equal(quits.verdict, "fail");
    assert.match(
      quits.reason,
      /^the client exited with code 0 before the transfer ended: socket-tcp's server still waited 8 s later and had to be stopped/,
    );
    assert.ok(quits.seconds >= 8 && quits.seconds < 20, `${quits.seconds} s`);
  },
});

Deno.test({
  name: "relative paths and the default --cwd are taken from INIT_CWD, where deno task was run",
  ignore: !canRun,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "conformance-init-cwd-" }));
    const name = `conformance-init-cwd-${crypto.randomUUID()}`;
    const args = ["--client", "pwd > where; exit 2 # {port}", "--cases", "ascii"];
    const outputs = ["--json", `${name}.json`, "--markdown", `out/${name}.md`];
    const env = { INIT_CWD: dir };
    try {
      // out/ is not in INIT_CWD yet: refused before any case, naming the folder it looked for.
      const refused = await cli([...args, ...outputs], { env });
      assert.deepEqual(
        [refused.code, refused.stderr.trim()],
        [1, `conformance: cannot write --markdown "out/${name}.md": no directory "${dir}/out"`],
      );
      await Deno.mkdir(`${dir}/out`);
      const result = await cli([...args, ...outputs], { env });
      assert.equal(result.code, 1, result.stderr);
      // The command ran there (the default --cwd), and the reports were written there,
      // not into the checker's own folder (the current directory under deno task).
      assert.equal((await Deno.readTextFile(`${dir}/where`)).trim(), dir);
      const json = JSON.parse(await Deno.readTextFile(`${dir}/${name}.json`));
      assert.deepEqual(json.cases.map((c: { verdict: string }) => c.verdict), ["fail"]);
      assert.match(await Deno.readTextFile(`${dir}/out/${name}.md`), /## ascii: fail/);
      const inRoot = await Deno.stat(`${ROOT}${name}.json`).then(() => true, () => false);
      assert.equal(inRoot, false, `${name}.json was written into ${ROOT}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(`${ROOT}${name}.json`).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "an output file that cannot be written, or a --cwd that cannot be read, is refused before any case runs",
  ignore: !canRun,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "conformance-out-" });
    try {
      const ran = ["--client", "touch ran; exit 2 # {port}", "--cwd", dir, "--cases", "ascii"];
      const [json, markdown, folder, unreadable] = await Promise.all([
        cli([...ran, "--json", `${dir}/nodir/r.json`]),
        cli([...ran, "--markdown", `${dir}/nodir/r.md`]),
        cli([...ran, "--json", dir]),
        // No --allow-read: the folder may well exist; the checker may not look.
        cli(["--server", "x {port}", "--cwd", "tests/fixtures"], { permissions: ["--allow-run"] }),
      ]);
      const lines = (r: { code: number; stdout: string; stderr: string }) => [
        r.code,
        r.stdout,
        r.stderr.trimEnd().split("\n"),
      ];
      assert.deepEqual(lines(json), [1, "", [
        `conformance: cannot write --json "${dir}/nodir/r.json": no directory "${dir}/nodir"`,
      ]]);
      assert.deepEqual(lines(markdown), [1, "", [
        `conformance: cannot write --markdown "${dir}/nodir/r.md": no directory "${dir}/nodir"`,
      ]]);
      assert.deepEqual(lines(folder), [1, "", [
        `conformance: cannot write --json "${dir}": it is a directory`,
      ]]);
      assert.deepEqual(lines(unreadable), [1, "", [
        `conformance: cannot read --cwd "tests/fixtures": add --allow-read`,
      ]]);
      const touched = await Deno.stat(`${dir}/ran`).then(() => true, () => false);
      assert.equal(touched, false, "a case ran before the output paths were checked");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ------------------------------------------------------------------ checkWire, pure

/** A wire view from lines "C>S 1|||0|||0|||7|||" (client to server) or "S>C …", "x" marks a drop. */
function wireOf(lines: string[]) {
  const encoder = new TextEncoder();
  return lines.map((line, i) => {
    const [arrow, text, mark] = line.split(" ");
    const direction = arrow === "C>S" ? "toServer" as const : "toClient" as const;
    return {
      record: {
        time: i,
        kind: "relay" as const,
        id: i + 1,
        direction,
        client: "127.0.0.1:5000",
        server: i === 0 ? "127.0.0.1:8000" : "127.0.0.1:9000",
        flags: "",
        seq: 0,
        len: 0,
        fate: mark === "x"
          ? "dropped" as const
          : mark === "d"
          ? "duplicated" as const
          : "forwarded" as const,
      },
      bytes: encoder.encode(text.replaceAll("_", " ")),
    };
  });
}

const HANDSHAKE = ["C>S 1|||0|||0|||7|||", "S>C 1|||1|||0|||8|||", "C>S 0|||1|||0|||9|||"];

function broken(role: Role, id: string, lines: string[]) {
  return Object.fromEntries(
    checkWire({
      role,
      definition: CASES.find((c) => c.id === id)!,
      listening: "127.0.0.1:8000",
      mss: 16,
      seconds: 60,
      datagrams: wireOf(lines),
    }).filter((r) => !r.ok).map((r) => [r.rule, r.detail]),
  );
}

Deno.test("checkWire: a dropped spurious copy of a segment that got through needs no resend", () => {
  const lines = [
    ...HANDSHAKE,
    "C>S 0|||0|||0|||9|||16",
    "C>S 0|||0|||0|||9|||16 x", // a spurious retransmission, dropped
    "S>C 0|||1|||0|||11|||",
    "C>S 0|||0|||0|||11|||0123456789abcdef",
    "S>C 0|||1|||0|||27|||",
    "C>S 0|||0|||1|||27|||",
    "S>C 0|||1|||1|||28|||",
    "C>S 0|||1|||0|||29|||",
    "C>S 0|||1|||0|||29|||",
    "C>S 0|||1|||0|||29|||",
  ];
  assert.deepEqual(broken("client", "one-segment", lines), {});
  // Had the first copy been the dropped one, with nothing after it, the rule breaks.
  assert.deepEqual(broken("client", "one-segment", [...HANDSHAKE, "C>S 0|||0|||0|||9|||16 x"]), {
    retransmit:
      "after the data segment seq=9 was lost, the client did not send it again in 60 s: " +
      "Stop & Wait resends it after a timeout",
  });
});

Deno.test("checkWire: a FIN sent once and lost, and a last ACK sent once, are named", () => {
  assert.deepEqual(
    broken("client", "lost-fin", [
      ...HANDSHAKE,
      "C>S 0|||0|||0|||9|||0",
      "S>C 0|||1|||0|||10|||",
      "C>S 0|||0|||1|||10||| x",
    ]),
    {
      "length-first": 'the first data segment carries "0"; the assignment expects the file\'s ' +
        'length in bytes, "118"',
      retransmit:
        "after the FIN seq=10 was lost, the client did not send it again in 60 s: step 8 " +
        "asks to resend it after each timeout, up to 3 times",
    },
  );
  const lines = [...HANDSHAKE, "C>S 0|||0|||0|||9|||0", "S>C 0|||1|||0|||10|||"];
  lines.push("C>S 0|||0|||1|||10|||", "S>C 0|||1|||1|||11|||", "C>S 0|||1|||0|||12|||");
  assert.deepEqual(broken("client", "empty", lines), {
    "last-ack-copies": "the client sent the closing's last ACK once; step 8 asks for 3 copies, a " +
      "timeout apart",
  });
  // No last ACK at all: the FIN+ACK may have come after the client gave up (3 timeouts).
  assert.deepEqual(broken("client", "empty", lines.slice(0, -1)), {});
});

Deno.test("checkWire: a re-ACK of a duplicate is fine, an ACK counted in characters is not", () => {
  const data = ["C>S 0|||0|||0|||9|||3", "S>C 0|||1|||0|||10|||"];
  const segment = "C>S 0|||0|||0|||10|||a\u00f1b";
  assert.deepEqual(
    broken("server", "ascii", [
      ...HANDSHAKE,
      ...data,
      segment,
      "S>C 0|||1|||0|||14|||",
      segment,
      "S>C 0|||1|||0|||14|||",
    ]),
    {},
  );
  assert.deepEqual(
    broken("server", "ascii", [...HANDSHAKE, ...data, segment, "S>C 0|||1|||0|||13|||"]),
    {
      "data-ack": "the server answered the data segment seq=10 with 4 bytes with ACK seq=13; the " +
        "assignment expects seq=14 (s+n, n in bytes)",
    },
  );
});

Deno.test("checkWire: a wrong ACK is blamed on the segment it answers, not on a later copy", () => {
  // ACK s+1 for the length (9, 3 bytes); then the file's first segment arrives twice.
  const lines = [
    ...HANDSHAKE,
    "C>S 0|||0|||0|||9|||118",
    "S>C 0|||1|||0|||10|||",
    "C>S 0|||0|||0|||12|||0123456789abcdef d",
    "S>C 0|||1|||0|||13|||",
  ];
  assert.deepEqual(broken("server", "duplicate-data", lines), {
    "data-ack": "the server answered the data segment seq=9 with 3 bytes with ACK seq=10; the " +
      "assignment expects seq=12 (s+n, n in bytes)",
  });
});

Deno.test("checkWire: a length numbered x+3 is named so, even when 1 byte makes it x+2+n", () => {
  const length = (seq: number, text: string) => [...HANDSHAKE, `C>S 0|||0|||0|||${seq}|||${text}`];
  // The empty file: its length "0" is 1 byte, so x+3 (10) is also x+2+n.
  const empty = broken("client", "empty", length(10, "0"))["length-first"];
  assert.equal(
    empty,
    "the first data segment (the length) has seq=10 (x+3); the assignment expects seq=9 " +
      "(x+2): the handshake's ACK x+2 takes no number, so both ends keep x+2 for the first " +
      "data segment (with its 1 byte, x+3 is also x+2+n: or it is numbered by its end)",
  );
  assert.match(
    broken("client", "ascii", length(10, "118"))["length-first"] ?? "",
    /seq=10 \(x\+3\)/,
  );
  assert.equal(
    broken("client", "ascii", length(12, "118"))["length-first"],
    "the first data segment (3 bytes) has seq=12, the number after its last byte: it is " +
      "numbered by its end; the assignment numbers a segment by its first byte, seq=9 (x+2)",
  );
});

Deno.test("checkWire: a SYN+ACK from the listening port names the port", () => {
  const lines = ["C>S 1|||0|||0|||7|||", "S>C 1|||1|||0|||8|||"];
  const wire = wireOf(lines);
  wire[1].record.server = "127.0.0.1:8000";
  const rules = checkWire({
    role: "server",
    definition: CASES[0],
    listening: "127.0.0.1:8000",
    mss: 16,
    seconds: 1,
    datagrams: wire,
  });
  assert.equal(
    rules.find((r) => r.rule === "synack-new-port")?.detail,
    "the SYN+ACK came from the listening port 8000 (127.0.0.1:8000); accept() must answer " +
      "from a new socket on another port",
  );
});

Deno.test("checkWire: in a case that loses every last ACK, a server still waiting is named", () => {
  const lines = [
    ...HANDSHAKE,
    "C>S 0|||0|||0|||9|||0",
    "S>C 0|||1|||0|||10|||",
    "C>S 0|||0|||1|||10|||",
    "S>C 0|||1|||1|||11|||",
    "C>S 0|||1|||0|||12||| x",
    "C>S 0|||1|||0|||12||| x",
    "C>S 0|||1|||0|||12||| x",
  ];
  const judged = (stoppedWaiting?: number, wire = wireOf(lines)) =>
    checkWire({
      role: "server",
      definition: CASES.find((c) => c.id === "lost-last-acks")!,
      listening: "127.0.0.1:8000",
      mss: 16,
      seconds: 20,
      datagrams: wire,
      stoppedWaiting,
    }).find((r) => r.rule === "close-gives-up");
  // The FIN+ACK is line 7 (time 7 ms): stopped 12 s after it.
  assert.deepEqual(judged(12_007), {
    rule: "close-gives-up",
    ok: false,
    detail: "after FIN+ACK seq=11, no last ACK arrived and the server was still waiting 12 s " +
      "later: the assignment gives up after 3 timeouts (step 8)",
  });
  // It ended by itself; or an ACK reached it (then it waits for something else).
  assert.deepEqual(judged(undefined), { rule: "close-gives-up", ok: true });
  const arrived = wireOf(lines.slice(0, -1).concat("C>S 0|||1|||0|||12|||"));
  assert.deepEqual(judged(12_007, arrived), { rule: "close-gives-up", ok: true });
});

Deno.test("describeDamage quotes where the output differs, and names stdout when it has more", () => {
  const enc = (text: string) => new TextEncoder().encode(text);
  const file = enc("Stop & Wait over UDP: this plain ASCII file crosses the network");
  assert.equal(
    describeDamage(concatBytes([enc("Conexion aceptada\n"), file]), file),
    `the server wrote 81 bytes, the file has 63; from byte 0, it wrote ` +
      `"Conexion aceptada\\x0aStop & Wait over UDP: …" where the file has ` +
      `"Stop & Wait over UDP: this plain ASCII f…" (the standard output must hold only the ` +
      `file: write messages to stderr)`,
  );
  const changed = file.slice();
  changed[5] = 0x00;
  assert.equal(
    describeDamage(changed, file),
    `the server wrote 63 bytes, but they differ: from byte 5, it wrote ` +
      `"\\x00 Wait over UDP: this plain ASCII file c…" where the file has ` +
      `"& Wait over UDP: this plain ASCII file c…"`,
  );
  assert.equal(
    describeDamage(new Uint8Array(), file),
    "the file did not arrive: the server wrote 0 of 63 bytes",
  );
});

Deno.test("the summary says deviations as such", () => {
  const verdicts = (...list: string[]) => list.map((verdict) => ({ verdict }));
  assert.equal(summaryLine(verdicts("pass", "crash")), "1 passed, 1 failed");
  assert.equal(
    summaryLine(verdicts(...Array(21).fill("deviation"))),
    "0 passed, 21 with deviations, 0 failed",
  );
  assert.equal(
    summaryLine(verdicts("pass", "deviation", "hang")),
    "1 passed, 1 with deviations, 1 failed",
  );
});

Deno.test("checkWire: a storm is counted against what the transfer needs", () => {
  const lines = [...HANDSHAKE];
  for (let i = 0; i < 101; i++) lines.push("C>S 0|||0|||0|||9|||1");
  assert.equal(
    broken("client", "two-segments", lines)["no-storm"],
    "the client sent 103 datagrams for a transfer that needs 9",
  );
  assert.equal(broken("client", "two-segments", lines.slice(0, 60))["no-storm"], undefined);
});

Deno.test("a server under test is given a port below the ephemeral range, which no socket bound to port 0 can take meanwhile", () => {
  const [low, high] = FREE_PORTS;
  // Ports that port 0 gives (the ephemeral range) are above the ones given.
  const ephemeral = Array.from({ length: 20 }, () => {
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const port = (socket.addr as Deno.NetAddr).port;
    socket.close();
    return port;
  });
  assert.ok(ephemeral.every((port) => port > high), `port 0 gave ${ephemeral}`);
  for (let i = 0; i < 20; i++) {
    const port = freePort();
    assert.ok(port >= low && port <= high, `${port} is outside ${low}-${high}`);
    // Free when given: it binds.
    Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
  }
});

/** As {@linkcode broken}, with the lines 1 s apart: a silence is judged over 2 s or more. */
function brokenSlowly(role: Role, id: string, lines: string[]) {
  const wire = wireOf(lines);
  for (const d of wire) d.record.time *= 1000;
  return Object.fromEntries(
    checkWire({
      role,
      definition: CASES.find((c) => c.id === id)!,
      listening: "127.0.0.1:8000",
      mss: 16,
      seconds: 60,
      datagrams: wire,
    }).filter((r) => !r.ok).map((r) => [r.rule, r.detail]),
  );
}

Deno.test("checkWire: SYNs that reached a silent server 3 times are named, drops not counted", () => {
  const syn = "C>S 1|||0|||0|||53|||";
  assert.deepEqual(brokenSlowly("server", "ascii", [syn, syn, syn, syn]), {
    unanswered: "the server answered none of the 4 SYNs (`1|||0|||0|||53|||`): does it parse " +
      "this header?",
  });
  // 4 copies within 3 ms: it may have exited at once, its own words tell why.
  assert.deepEqual(broken("server", "ascii", [syn, syn, syn, syn]), {});
  // Two copies dropped on purpose (lost-syn drops one): 2 reached it, not judged yet.
  assert.deepEqual(brokenSlowly("server", "lost-syn", [`${syn} x`, `${syn} x`, syn, syn]), {});
  // Answered once, even if that SYN+ACK was dropped: it answered.
  assert.equal(
    brokenSlowly("server", "ascii", [syn, syn, syn, "S>C 1|||1|||0|||54||| x"]).unanswered,
    undefined,
  );
});

Deno.test("checkWire: a data segment that reached the server 3 times and got no ACK is named", () => {
  const length = "C>S 0|||0|||0|||9|||118";
  assert.deepEqual(brokenSlowly("server", "ascii", [...HANDSHAKE, length, length, length]), {
    unanswered: "the server never acknowledged the length segment DATA seq=9 (x+2, sent 3 " +
      "times): the assignment expects ACK seq=12 (s+n, 3 bytes); it sent no ACK after it " +
      "(the handshake's ACK x+2 takes no number: the length is numbered x+2)",
  });
  // lost-length: its first copy dropped, two reached the server: not judged.
  assert.deepEqual(
    brokenSlowly("server", "lost-length", [...HANDSHAKE, `${length} x`, length, length]),
    {},
  );
  // Acknowledged (the ACK dropped on its way back): answered.
  assert.deepEqual(
    brokenSlowly("server", "ascii", [
      ...HANDSHAKE,
      length,
      "S>C 0|||1|||0|||12||| x",
      length,
      length,
    ]),
    {},
  );
  // A file segment answered with another number: data-ack names that ACK, alone.
  const data = "C>S 0|||0|||0|||12|||0123456789abcdef";
  const wrong = [...HANDSHAKE, length, "S>C 0|||1|||0|||12|||", data, "S>C 0|||1|||0|||27|||"];
  assert.deepEqual(Object.keys(brokenSlowly("server", "ascii", [...wrong, data, data])), [
    "data-ack",
  ]);
  // Not answered at all: named with its size.
  assert.equal(
    brokenSlowly("server", "ascii", [...wrong.slice(0, -1), data, data, data]).unanswered,
    "the server never acknowledged the data segment DATA seq=12 (16 bytes, sent 4 times): " +
      "the assignment expects ACK seq=28 (s+n, 16 bytes); it sent no ACK after it",
  );
});

Deno.test("checkWire: a FIN never answered by a server, a SYN+ACK never answered by a client", () => {
  const fin = "C>S 0|||0|||1|||12|||";
  const lines = [...HANDSHAKE, "C>S 0|||0|||0|||9|||0", "S>C 0|||1|||0|||10|||"];
  assert.deepEqual(brokenSlowly("server", "empty", [...lines, fin, fin, fin]), {
    unanswered: "the server never answered the FIN seq=12 (sent 3 times) with a FIN+ACK: the " +
      "assignment expects FIN+ACK seq=13 (s+1)",
  });
  // Every FIN+ACK dropped (lost-finacks): it answered.
  const finAck = "S>C 0|||1|||1|||13||| x";
  assert.deepEqual(
    brokenSlowly("server", "lost-finacks", [...lines, fin, finAck, fin, finAck, fin]),
    {},
  );
  const syn = "C>S 1|||0|||0|||7|||";
  const synAck = "S>C 1|||1|||0|||8|||";
  assert.deepEqual(brokenSlowly("client", "ascii", [syn, synAck, syn, synAck, syn, synAck]), {
    unanswered: "the client answered none of the 3 SYN+ACKs (`1|||1|||0|||8|||`) to its SYN " +
      "seq=7: does it parse this header? The assignment answers it with ACK x+2",
  });
  assert.deepEqual(
    brokenSlowly("client", "lost-synack", [syn, `${synAck} x`, syn, synAck, syn]),
    {},
  );
});
