// ESLint for the dashboard's own code (`make lint-js`, or `npm run lint` here): plain ES modules
// loaded by the browser, no bundler (docs/dashboard.md). ESLint only lints files under its working
// directory, so the `lint` script runs from gateway/ with this file passed as --config.

import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import globals from "globals";

export default defineConfig({
  basePath: `${import.meta.dirname}/../static/js`,
  files: ["**/*.js"],
  extends: [js.configs.recommended],
  languageOptions: {
    ecmaVersion: "latest",
    sourceType: "module",
    globals: globals.browser,
  },
  linterOptions: { reportUnusedDisableDirectives: "error" },
});
