// Validate GLB files with the Khronos glTF-Validator; prints one JSON line per file.
const fs = require("fs");
const path = require("path");
const validator = require(path.join(__dirname, "../../web_viewer/node_modules/gltf-validator"));

(async () => {
  for (const file of process.argv.slice(2)) {
    const report = await validator.validateBytes(new Uint8Array(fs.readFileSync(file)), { maxIssues: 100 });
    const errors = report.issues.messages.filter((m) => m.severity === 0);
    console.log(JSON.stringify({ file, numErrors: report.issues.numErrors,
      numWarnings: report.issues.numWarnings, errors: errors.slice(0, 5) }));
  }
})().catch((e) => { console.error(e); process.exit(1); });
