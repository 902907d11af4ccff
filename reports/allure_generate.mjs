// `allure generate` plus the quality gate: how reports/html.py renders the Allure 3 report.
//
//   node reports/allure_generate.mjs CONFIG OUTPUT RESULTS_DIR...
//
// The pinned CLI's `generate` (allure/dist/commands/commons/generate.js) reads the config, starts an
// AllureReport, reads each results folder and calls done(); it never evaluates `qualityGate`, so the
// report's Quality Gates tab stays empty. `allure run` evaluates it (commands/commons/run.js) by
// validating every test result and handing the results to the report before done(). This script does
// exactly those calls, with the same @allurereport/core the CLI ships, and prints the gate results as
// one JSON line so the caller can check that the report shows what stackmatrix computed.
import process from "node:process";
import { AllureReport, readConfig } from "@allurereport/core";

// Allure's quality gate calls Iterator.prototype.toArray (ES2025, Node >= 22). On Node 20, which
// jsii no longer supports but which still runs here, add that one method with its standard meaning.
const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
if (typeof IteratorPrototype.toArray !== "function") {
  Object.defineProperty(IteratorPrototype, "toArray", {
    value: function toArray() { return Array.from(this); }, writable: true, configurable: true,
  });
}

const [configPath, output, ...resultsDirs] = process.argv.slice(2);
if (!configPath || !output || resultsDirs.length === 0) {
  console.error("usage: node allure_generate.mjs CONFIG OUTPUT RESULTS_DIR...");
  process.exit(2);
}
const config = await readConfig(process.cwd(), configPath, { output });
const report = new AllureReport(config);
await report.start();
for (const dir of resultsDirs) {
  await report.readDirectory(dir);
}
let gate = [];
if (report.hasQualityGate) {
  const trs = await report.store.allTestResults({ includeRetries: false });
  const { results } = await report.validate({ trs });
  report.realtimeDispatcher.sendQualityGateResults(results);
  gate = results.map(({ rule, success, actual, expected, message, testResults }) => ({
    rule, success, actual, expected, message, tests: (testResults ?? []).length,
  }));
}
await report.done();
console.log(JSON.stringify({ qualityGate: gate }));
