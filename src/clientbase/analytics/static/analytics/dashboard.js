// Draws the dashboard's charts with Plotly from the JSON the page carries (#dashboard-charts).
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("dashboard-charts");
    if (!source || !window.Plotly) {
      return;
    }
    var charts = JSON.parse(source.textContent);
    var style = getComputedStyle(document.documentElement);
    var colour = style.getPropertyValue("--bs-primary").trim() || "#0d6efd";
    document.querySelectorAll(".dashboard-chart").forEach(function (element) {
      var series = charts[element.dataset.series];
      if (!series) {
        return;
      }
      var trace = { x: series.x, y: series.y, marker: { color: colour } };
      if (element.dataset.kind === "line") {
        trace.type = "scatter";
        trace.mode = "lines+markers";
        trace.line = { color: colour };
      } else {
        trace.type = "bar";
      }
      var layout = {
        separators: charts.separators,
        margin: { l: 60, r: 10, t: 10, b: 80 },
        height: 320,
        yaxis: { rangemode: "tozero", tickformat: ",~r" },
        paper_bgcolor: "rgba(0,0,0,0)",
        plot_bgcolor: "rgba(0,0,0,0)",
      };
      window.Plotly.newPlot(element, [trace], layout, {
        displaylogo: false,
        responsive: true,
        modeBarButtonsToRemove: ["sendDataToCloud"],
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
