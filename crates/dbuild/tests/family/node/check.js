// Hello world, and the CA bundle that SSL_CERT_FILE names: readable, with many certificates.
// (node's compiled-in roots would prove nothing about the image.)
const fs = require("fs");
console.log("hello from node " + process.version);
const bundle = fs.readFileSync(process.env.SSL_CERT_FILE, "utf8");
const count = (bundle.match(/-----BEGIN CERTIFICATE-----/g) || []).length;
console.log("bundle " + count);
