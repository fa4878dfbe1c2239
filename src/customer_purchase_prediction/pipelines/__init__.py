"""The project's pipelines, one folder each; ``find_pipelines`` registers them."""
