/**
 * `deno task compile` builds single binaries of the client and the server.
 * `deno compile` downloads Deno's runtime unless DENORT_BIN names a local
 * one, so this test runs only where DENORT_BIN is set.
 */
import assert from "node:assert/strict";

const ROOT = `${import.meta.dirname}/..`;
const runtime = Deno.env.get("DENORT_BIN");

Deno.test({
  name: "the compiled cliente and servidor run and print their usage",
  ignore: !runtime,
  async fn() {
    const out = await Deno.makeTempDir();
    try {
      for (const script of ["cliente", "servidor"]) {
        const binary = `${out}/${script}`;
        const build = await new Deno.Command(Deno.execPath(), {
          args: ["compile", "--unstable-net", "--allow-net", "-o", binary, `${ROOT}/${script}.ts`],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(build.code, 0, new TextDecoder().decode(build.stderr));
        const help = await new Deno.Command(binary, {
          args: ["--help"],
          stdout: "piped",
          stderr: "piped",
        })
          .output();
        assert.equal(help.code, 0);
        const text = new TextDecoder().decode(help.stdout) + new TextDecoder().decode(help.stderr);
        assert.match(text, new RegExp(`Usage: .*${script}`));
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
