// Opens the portfolio report written by `stpctl portfolio --html` in headless Chromium and
// checks what a person would see:
// - no console error, no uncaught page error, and no request beyond the file itself (the
//   report must be self-contained: inline CSS and SVG, no script, nothing from the network);
// - the charts are there: one bar segment per non-empty tier of each country and avenue, one
//   tile per country, and the top projects with their reasons.
//
//   node check_report.js REPORT.html EXPECTED.json [SCREENSHOT.png]
//
// EXPECTED.json: {"countryBars": n, "avenueBars": n, "countries": n, "topProjects": n}, derived
// by the caller from the API's own answers.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
  const [reportPath, expectedPath, screenshotPath] = process.argv.slice(2);
  if (!reportPath || !expectedPath) {
    console.error('usage: node check_report.js REPORT.html EXPECTED.json [SCREENSHOT.png]');
    process.exit(2);
  }
  const expected = JSON.parse(fs.readFileSync(expectedPath, 'utf8'));
  const reportUrl = 'file://' + path.resolve(reportPath);
  const browser = await chromium.launch({
    executablePath: process.env.STP_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('request', (request) => {
      const url = request.url();
      if (url !== reportUrl && !url.startsWith('data:')) problems.push(`request for ${url}`);
    });
    page.on('requestfailed', (request) => problems.push(`failed request: ${request.url()}`));
    await page.goto(reportUrl, { waitUntil: 'load' });

    const seen = await page.evaluate(() => {
      const count = (selector) => document.querySelectorAll(selector).length;
      const barWidths = [...document.querySelectorAll('#tiers-by-country svg rect')].map(
          (r) => r.getBBox().width);
      return {
        title: document.title,
        scripts: count('script'),
        countryBars: count('#tiers-by-country svg rect'),
        avenueBars: count('#tiers-by-avenue svg rect'),
        countries: count('#countries svg rect'),
        countryRows: count('#countries tbody tr'),
        topProjects: count('#top-projects .project'),
        reasons: count('#top-projects ul.reasons li'),
        componentBars: count('#top-projects svg rect'),
        allRects: count('rect'),
        narrowestBar: barWidths.length ? Math.min(...barWidths) : 0,
        pageWidth: document.documentElement.scrollWidth,
      };
    });
    console.log(JSON.stringify(seen));
    const want = (what, got, expect) => {
      if (got !== expect) problems.push(`${what}: ${got}, expected ${expect}`);
    };
    want('scripts in the page', seen.scripts, 0);
    want('tier segments by country', seen.countryBars, expected.countryBars);
    want('tier segments by avenue', seen.avenueBars, expected.avenueBars);
    want('country tiles', seen.countries, expected.countries);
    want('country table rows', seen.countryRows, expected.countries);
    want('top projects', seen.topProjects, expected.topProjects);
    if (seen.reasons < seen.topProjects) problems.push(`only ${seen.reasons} reasons listed`);
    if (seen.componentBars < 2 * seen.topProjects) {
      problems.push(`only ${seen.componentBars} component bars for ${seen.topProjects} projects`);
    }
    if (seen.narrowestBar <= 0) problems.push('a tier segment has no width');
    if (seen.pageWidth > 1200) problems.push(`the page is ${seen.pageWidth}px wide, wider than the window`);
    if (screenshotPath) await page.screenshot({ path: screenshotPath, fullPage: true });
  } finally {
    await browser.close();
  }
  if (problems.length > 0) {
    for (const p of problems) console.error(`FAIL: ${p}`);
    process.exit(1);
  }
  console.log('report ok');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
