/**
 * Runs every case of the report and checks that it still draws the diagram
 * committed in docs/informe.md: the report cannot drift from the code.
 * Regenerate with `deno task report` after a deliberate change.
 */
import assert from "node:assert/strict";
import {
  betweenMarkers,
  REPORT_PATH,
  runScenario,
  SCENARIO_MESSAGE,
  SCENARIOS,
  scenarioSection,
} from "../scenarios.ts";

const report = await Deno.readTextFile(new URL(`../${REPORT_PATH}`, import.meta.url));

for (const scenario of SCENARIOS) {
  Deno.test(`case ${scenario.id} still produces the diagram drawn in the report`, async () => {
    const run = await runScenario(scenario.id);
    assert.deepEqual(run.received, SCENARIO_MESSAGE);
    assert.deepEqual(run.dropped, scenario.rules.length);
    const committed = betweenMarkers(report, scenario.id);
    assert.ok(committed !== undefined, `${REPORT_PATH} has no markers for ${scenario.id}`);
    assert.deepEqual(
      scenarioSection(run).split("\n"),
      committed.split("\n"),
      `case ${scenario.id} drew another diagram: run \`deno task report\` if the change is intended`,
    );
  });
}

Deno.test("every lost segment of a case is the one its fault rule dropped", async () => {
  const run = await runScenario("data-lost");
  const lostData = run.events.filter((e) =>
    e.kind === "send" && e.flags === "DATA" && e.len === 16
  );
  assert.deepEqual(lostData.length, 2);
  assert.deepEqual(lostData[1].retransmission, true);
});
