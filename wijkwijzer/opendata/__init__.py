"""Open data: public records and exports of the case studies, linked data, the OpenAPI description. No Flask."""
