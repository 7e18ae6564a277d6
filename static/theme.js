/* Tocsin: apply the theme chosen with the header's toggle before the page is drawn, so a dark
   page never flashes light. Loaded without `defer` in <head>; the toggle itself is in tocsin.js. */
(function () {
  try {
    var chosen = window.localStorage.getItem("tocsin-theme");
    if (chosen === "dark" || chosen === "light") {
      document.documentElement.setAttribute("data-theme", chosen);
    }
  } catch (error) { /* storage blocked: follow the browser's preference */ }
})();
