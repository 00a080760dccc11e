// Draws the dashboard's charts with Plotly from the JSON the page carries (#dashboard-charts).
// Plotly (4.8 MB of script to compile) is fetched only after the page has loaded: the figures
// and tables are readable at once, and the charts fill their reserved boxes a moment later.
(function () {
  "use strict";

  var plotlyUrl = document.currentScript && document.currentScript.dataset.plotly;

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
        // automargin widens the margins to the longest tick label ("50 000 000", "Сентябрь
        // 2026 г."), which a fixed left margin clipped to "00 000 000".
        margin: { l: 10, r: 10, t: 10, b: 10 },
        height: 320,
        xaxis: { automargin: true },
        yaxis: { rangemode: "tozero", tickformat: ",~r", automargin: true },
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

  function loadPlotly() {
    if (window.Plotly || !plotlyUrl) {
      draw();
      return;
    }
    var script = document.createElement("script");
    script.src = plotlyUrl;
    script.addEventListener("load", draw);
    document.head.appendChild(script);
  }

  if (document.readyState === "complete") {
    loadPlotly();
  } else {
    window.addEventListener("load", loadPlotly);
  }
})();
