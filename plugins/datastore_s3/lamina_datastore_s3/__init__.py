"""lamina datastore on Amazon S3 or any S3-compatible store.

Install it beside lamina and name it in a stack::

    datastore = { plugin = "s3", url = "s3://bucket/prefix" }

boto3 is imported only when a stack builds the datastore.
"""

from lamina_datastore_s3.errors import S3DatastoreError

__all__ = ["S3DatastoreError"]
