// testbed serve: draws every figure of the page with plotly.js (served beside this file, never from a CDN).
// A figure is a <div data-figure="ID"> and its spec in <script type="application/json" id="ID">; a point
// whose customdata is a link opens that page when clicked.
"use strict";
(function () {
  function draw(el) {
    var spec = JSON.parse(document.getElementById(el.dataset.figure).textContent);
    var config = {responsive: true, displaylogo: false, scrollZoom: false,
                  modeBarButtonsToRemove: ["select2d", "lasso2d"]};
    return Plotly.newPlot(el, spec.data, spec.layout, config).then(function () {
      el.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        if (point && typeof point.customdata === "string" && point.customdata) {
          window.location.href = point.customdata;
        }
      });
      el.dataset.drawn = "yes";
    });
  }
  function drawAll() {
    var figures = Array.prototype.slice.call(document.querySelectorAll("[data-figure]"));
    Promise.all(figures.map(draw)).then(function () {
      document.body.dataset.figuresDrawn = String(figures.length);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
