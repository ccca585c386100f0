global using Microsoft.SemanticKernel;
