// Registry metadata: repositories, blobs and their per-repository links, manifests with the
// blobs and child manifests they reference, tags and upload sessions. Foreign keys make the
// database itself refuse a manifest whose blob was collected, whatever the application does.
import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

export function registryMigration(dialect: Dialect) {
  const int64 = dialect === 'postgres' ? 'bigint' : 'integer';
  const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('repositories')
        .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('created_at', int64, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('blobs')
        .addColumn('digest', 'varchar(140)', (c) => c.primaryKey())
        .addColumn('size', int64, (c) => c.notNull())
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('last_used_at', int64, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('repository_blobs')
        .addColumn('repository', 'varchar(255)', (c) =>
          c.notNull().references('repositories.name').onDelete('cascade'),
        )
        .addColumn('digest', 'varchar(140)', (c) =>
          c.notNull().references('blobs.digest').onDelete('cascade'),
        )
        .addColumn('linked_at', int64, (c) => c.notNull())
        .addPrimaryKeyConstraint('repository_blobs_pk', ['repository', 'digest'])
        .execute();
      await db.schema
        .createIndex('repository_blobs_digest')
        .on('repository_blobs')
        .column('digest')
        .execute();

      await db.schema
        .createTable('manifests')
        .addColumn('repository', 'varchar(255)', (c) =>
          c.notNull().references('repositories.name').onDelete('cascade'),
        )
        .addColumn('digest', 'varchar(140)', (c) => c.notNull())
        .addColumn('media_type', 'varchar(255)', (c) => c.notNull())
        .addColumn('artifact_type', 'varchar(255)')
        .addColumn('subject', 'varchar(140)')
        .addColumn('size', int64, (c) => c.notNull())
        .addColumn('payload', bytes, (c) => c.notNull())
        .addColumn('annotations', 'text')
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('last_used_at', int64, (c) => c.notNull())
        .addPrimaryKeyConstraint('manifests_pk', ['repository', 'digest'])
        .execute();
      await db.schema
        .createIndex('manifests_subject')
        .on('manifests')
        .columns(['repository', 'subject'])
        .execute();

      await db.schema
        .createTable('manifest_blobs')
        .addColumn('repository', 'varchar(255)', (c) => c.notNull())
        .addColumn('manifest_digest', 'varchar(140)', (c) => c.notNull())
        .addColumn('blob_digest', 'varchar(140)', (c) => c.notNull().references('blobs.digest'))
        .addPrimaryKeyConstraint('manifest_blobs_pk', ['repository', 'manifest_digest', 'blob_digest'])
        .addForeignKeyConstraint(
          'manifest_blobs_manifest_fk',
          ['repository', 'manifest_digest'],
          'manifests',
          ['repository', 'digest'],
          (c) => c.onDelete('cascade'),
        )
        .execute();
      await db.schema.createIndex('manifest_blobs_blob').on('manifest_blobs').column('blob_digest').execute();

      await db.schema
        .createTable('manifest_children')
        .addColumn('repository', 'varchar(255)', (c) => c.notNull())
        .addColumn('parent_digest', 'varchar(140)', (c) => c.notNull())
        .addColumn('child_digest', 'varchar(140)', (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_children_pk', ['repository', 'parent_digest', 'child_digest'])
        .addForeignKeyConstraint(
          'manifest_children_parent_fk',
          ['repository', 'parent_digest'],
          'manifests',
          ['repository', 'digest'],
          (c) => c.onDelete('cascade'),
        )
        .execute();
      await db.schema
        .createIndex('manifest_children_child')
        .on('manifest_children')
        .columns(['repository', 'child_digest'])
        .execute();

      await db.schema
        .createTable('tags')
        .addColumn('repository', 'varchar(255)', (c) => c.notNull())
        .addColumn('name', 'varchar(128)', (c) => c.notNull())
        .addColumn('digest', 'varchar(140)', (c) => c.notNull())
        .addColumn('updated_at', int64, (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pk', ['repository', 'name'])
        .addForeignKeyConstraint(
          'tags_manifest_fk',
          ['repository', 'digest'],
          'manifests',
          ['repository', 'digest'],
          (c) => c.onDelete('cascade'),
        )
        .execute();
      await db.schema.createIndex('tags_digest').on('tags').columns(['repository', 'digest']).execute();

      await db.schema
        .createTable('uploads')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('repository', 'varchar(255)', (c) => c.notNull())
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('updated_at', int64, (c) => c.notNull())
        .execute();
    },
  };
}
