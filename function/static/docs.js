// Swagger UI's start, in a file of its own: the page's Content-Security-Policy allows no inline
// script. The options are FastAPI's defaults (fastapi.openapi.docs.swagger_ui_default_parameters);
// "openapi.json" is relative, so it stays under API Gateway's stage prefix.
"use strict";
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
