// Node CommonJS entry.
"use strict";
const { Throttle } = require("./gen/node/ratewindow.js");
const { makeApi } = require("./gen/api.cjs");

module.exports = makeApi({ Throttle });
