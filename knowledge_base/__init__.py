"""The knowledge base of 银龄助手: entries, storage with versions, retrieval, admin tools."""
